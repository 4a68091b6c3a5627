"""`NeuralGenerator`: what the GAN and the VAE share behind `SequenceGenerator`.

The base class does the EventLog work once: validate and encode the log, plan
DP-SGD (refusing a bad budget before any training), train through
`training.run_training`, and turn generated tensors back into a validated
EventLog. A subclass implements three things: `_build(codec)` (its networks, as
one module), `_task(net, data, plan)` (its training step) and
`_generate(n, fixed, gen)` (batched sampling of n journeys as tensors).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from journeylab.generators import distributed
from journeylab.generators.base import SequenceGenerator
from journeylab.generators.calendar import Calendar
from journeylab.generators.calibrate import (
    UNSHOWN,
    calibrate,
    calibrate_steps,
    grid_of,
    held_shares,
    repeat_targets,
    targets,
    token_marginal,
    transition_norm,
    transition_targets,
    unshown,
)
from journeylab.generators.config import CommonConfig
from journeylab.generators.data import Binning, JourneyData, Task, run_training
from journeylab.generators.io import (
    build_checked,
    check_codec,
    check_conditions,
    derive_seed,
    load_model,
    save_model,
    synthetic_ids,
)
from journeylab.generators.profile import JourneyProfile
from journeylab.journeys.encoding import EncodedJourneys, JourneyEncoder
from journeylab.journeys.errors import ConfigError, PrivacyBudgetError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema
from journeylab.journeys.streamed import StreamedLog
from journeylab.privacy.accountant import gaussian_room, joint_epsilon
from journeylab.privacy.budget import PrivacyBudget
from journeylab.privacy.dpsgd import DPPlan, plan_dpsgd


class NeuralGenerator(SequenceGenerator):
    """A generator trained with (optionally DP) SGD; see module docstring."""

    config_cls: ClassVar[type[CommonConfig]] = CommonConfig
    private_modules: ClassVar[list[str]] = []
    # settings a model saved before they existed was built without (its config lacks them)
    saved_defaults: ClassVar[dict[str, Any]] = {}
    supports_dp: ClassVar[bool] = True
    supports_ddp: ClassVar[bool] = True
    streams: ClassVar[bool] = True  # encoded chunk by chunk, profile from streamed passes
    realign_starts: ClassVar[bool] = False  # move journeys to the profile's start times (DP: all)
    calibrated: ClassVar[bool] = False  # token logits calibrated to the profile (VAE)
    transitions: ClassVar[bool] = False  # ... and its next-token logits to the transitions
    PILOT: ClassVar[int] = 400  # journeys per calibration round

    def __init__(self, config: CommonConfig | dict[str, Any] | None = None, **settings: Any):
        if isinstance(config, CommonConfig):
            self.config = config
        else:
            self.config = self.config_cls.from_dict({**(config or {}), **settings})
        self.schema: Schema | None = None
        self.encoder: JourneyEncoder | None = None
        self.codec: Binning | None = None
        self.net: nn.Module | None = None
        self.history: list[dict[str, Any]] = []
        self._privacy: dict[str, Any] | None = None
        self.profile: JourneyProfile | None = None

    # --- subclass hooks ----------------------------------------------------
    @abc.abstractmethod
    def _build(self, codec: Binning) -> nn.Module: ...

    @abc.abstractmethod
    def _task(self, net: nn.Module, data: JourneyData, plan: DPPlan | None) -> Task: ...

    @abc.abstractmethod
    def _generate(
        self,
        n: int,
        fixed: dict[int, int],
        gen: torch.Generator,
        force: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """n journeys: lengths [n], tokens [n,L,C] (1-based), numerics u [n,L,M],
        gaps seconds [n,L], start seconds [n], ctx classes [n,T]."""

    # --- interface ---------------------------------------------------------
    @property
    def privacy_record(self) -> dict[str, Any] | None:
        return self._privacy

    def profile_share(self) -> float:
        return self.config.profile_share if self.config.profile else 0.0

    def _fit(
        self,
        log: EventLog | StreamedLog,
        *,
        privacy: PrivacyBudget | None = None,
        progress_bar: bool = False,
        checkpoint_dir: str | Path | None = None,
        callbacks: list | tuple = (),
        accelerator: str = "auto",
        progress: Callable[[dict[str, Any]], None] | None = None,
        devices: int = 1,
        num_nodes: int = 1,
    ) -> NeuralGenerator:
        """Train on `log`; with `privacy`, customer-level DP-SGD that stops at the budget.

        devices x num_nodes > 1: DDP, each process training on its part of each batch
        (`generators.distributed`). Nothing is kept from a failed fit: the generator
        keeps its previous state.
        """
        encoder = JourneyEncoder(log.schema)
        codec = Binning.make(encoder, self.config)
        longest = log.longest() if isinstance(log, StreamedLog) else int(log.lengths().max())
        if longest > codec.max_length:
            raise ConfigError(
                f"the log has journeys of {longest} events but max_length is "
                f"{codec.max_length}; raise max_length (<= the schema's "
                f"{log.schema.max_length}) or truncate the log explicitly"
            )
        n = log.n_customers
        plan, rho, total = None, None, None
        if privacy is not None:
            total = privacy.epsilon
            if self.config.profile:  # DP-SGD's noise is set for its share alone
                share = 1 - self.config.profile_share
                privacy = replace(privacy, epsilon=privacy.epsilon * share)
            plan = plan_dpsgd(
                privacy,
                n_customers=n,
                batch_size=self.config.batch_size,
                epochs=self.config.epochs,
                max_steps=self.config.max_steps,
            )
            if self.config.profile:  # the profile gets what the planned steps leave
                rho = profile_rho(plan, total)
        data = JourneyData.from_log(log, encoder, codec)
        with torch.random.fork_rng(devices=[]):  # seeded init without touching global state
            torch.manual_seed(self.config.seed)
            net = self._build(codec)
        result = run_training(
            self._task(net, data, plan),
            n=n,
            cfg=self.config,
            plan=plan,
            progress_bar=progress_bar,
            checkpoint_dir=checkpoint_dir,
            callbacks=callbacks,
            accelerator=accelerator,
            progress=progress,
            devices=devices,
            num_nodes=num_nodes,
        )
        record = None
        if result.spend is not None:
            record = result.spend.record(
                epochs=result.epochs, private_modules=list(self.private_modules)
            )
            # DDP: each process took its part of the one Poisson batch; the one-process plan
            record["processes"] = devices * num_nodes
        profile = None
        # a DDP rank other than 0 saves nothing: only rank 0's profile is released
        if self.config.profile and not distributed.is_worker(devices, num_nodes):
            profile = JourneyProfile.fit(
                log,
                rho=rho,
                seed=self.config.seed,
                parts=self._profile_parts(private=rho is not None),
            )
            if record is not None:  # what the profile adds to the steps actually taken
                profile.epsilon = profile_epsilon(record, rho)
                record["profile"] = profile.record()
        self.schema, self.encoder, self.codec = log.schema, encoder, codec
        self.net, self.history, self._privacy = net.cpu().eval(), result.history, record
        self.profile = profile
        private = rho is not None
        if profile is not None and self.calibrated and self.config.calibrates(private=private):
            if private and profile.mix:  # faint shares told by presence (no privacy cost)
                profile.mix["token_held"] = held_shares(profile, lambda: self._pilot({}))
            want, free, per_customer = targets(profile, log.schema)
            profile.logit_bias = calibrate(self._pilot, want, free=free, per_customer=per_customer)
            trans = transition_targets(profile) if self.transitions else None
            if trans is not None:
                tokens = Calendar.from_dict(profile.calendar).tokens
                init = grid_of(profile.logit_bias, tokens, log.schema)
                lower = unshown(profile)
                if lower is not None:
                    init[:, lower] -= UNSHOWN
                profile.trans_bias, profile.repeat_bias = calibrate_steps(
                    self._pilot_steps,
                    *trans,
                    tokens,
                    init=init,
                    marginal=token_marginal(profile),
                    repeats=repeat_targets(profile),
                    norm=transition_norm(profile),
                )
            if private and profile.mix:  # journeys told their length end as the data's
                profile.end_terminal = profile.terminal_end(self._draw_pilot)
        return self

    def _profile_parts(self, *, private: bool) -> tuple[str, ...]:
        parts = self.config.profile_parts(private=private)
        if private and self.calibrated and self.config.calibrates(private=True):
            parts += ("mix",)  # the calibration's targets, released on their own
        return parts

    def _pilot(self, bias: dict[str, np.ndarray]) -> EventLog:
        """PILOT journeys drawn with `bias` on the token logits (seeded: the same for the
        same model), decoded as the model made them (before the profile)."""
        assert self.profile is not None
        self.profile.logit_bias = {k: list(map(float, v)) for k, v in bias.items()}
        return self._draw_pilot()

    def _pilot_steps(self, trans: np.ndarray, repeat: np.ndarray | None) -> EventLog:
        """PILOT journeys drawn with the transition and repeat biases (as `_pilot`)."""
        assert self.profile is not None
        self.profile.trans_bias = trans.tolist()
        self.profile.repeat_bias = None if repeat is None else repeat.tolist()
        return self._draw_pilot()

    def _draw_pilot(self) -> EventLog:
        """PILOT journeys, told their lengths from the profile's shape as `sample` tells
        the journeys it matches (calibrated on the model's own, shorter, journeys, a
        process's steps past the model's own end went uncalibrated: 93% of the cases
        broke an order, 67% of the pilot's)."""
        gen = torch.Generator().manual_seed(derive_seed(self.config.seed) + 7)
        rng = np.random.default_rng(derive_seed(self.config.seed) + 8)
        force = None
        if self.profile is not None and self.config.oversample > 1:
            force = torch.as_tensor(self.profile.draw_lengths(self.PILOT, rng, self.codec))
        fixed = self._tree_context(self.PILOT, derive_seed(self.config.seed) + 9) or {}
        part = self._generate(self.PILOT, fixed, gen, force=force)
        return self.encoder.decode(self._to_encoded([part], {}, gen))

    def _tree_context(self, n: int, seed: int) -> dict[int, torch.Tensor] | None:
        """n customers' categorical context columns (as `_generate`'s per-row `fixed`
        classes) drawn from the profile's context tree; None without one."""
        if self.profile is None:
            return None
        codes = self.profile.draw_context(n, np.random.default_rng(seed), self.schema)
        if codes is None:
            return None
        return {j: torch.as_tensor(codes[:, j]) for j in range(codes.shape[1])}

    def sample(
        self, n: int, *, conditions: dict[str, Any] | None = None, seed: int | None = None
    ) -> EventLog:
        """n whole journeys with context (conditions fix context columns), seeded."""
        self._require_fitted()
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"n must be a positive integer, got {n!r}")
        fixed, exact = self._fixed_classes(check_conditions(self.schema, conditions))
        gen = torch.Generator().manual_seed(derive_seed(seed))
        # Shape matching draws candidates from the model's joint: not under conditions,
        # where the profile's (unconditional) shape is not the target.
        match = self.profile is not None and not conditions and self.config.oversample > 1
        k = math.ceil(n * self.config.oversample) if match else n
        rng = np.random.default_rng(derive_seed(seed) + 1)
        # With matching, the last n candidates are told their lengths, drawn from the
        # profile: they fill the length classes the model itself rarely reaches.
        force = torch.zeros(k, dtype=torch.long)
        if match:
            force[k - n :] = torch.as_tensor(self.profile.draw_lengths(n, rng, self.codec))
        bs = self.config.sample_batch_size
        # Without conditions the categorical context comes from the profile's tree when it
        # has one (under DP: the model's own joint of the columns is poor), row by row.
        rows = None if conditions else self._tree_context(k, derive_seed(seed) + 2)

        def fixed_at(i: int) -> dict:
            return fixed if rows is None else {j: v[i : i + bs] for j, v in rows.items()}

        parts = [
            self._generate(min(bs, k - i), fixed_at(i), gen, force=force[i : i + bs])
            for i in range(0, k, bs)
        ]
        log = self.encoder.decode(self._to_encoded(parts, exact, gen))
        if self.profile is None:
            return log
        if match:
            log = self.profile.select(log, n, rng, forced=k - n)
        # under DP no model learns first-event times well (on the omnichannel simulator at
        # epsilon 8 the VAE's journeys started on day 89 on average, real ones on day 32)
        realign = self.realign_starts or self.profile.private
        df = self.profile.apply(log, rng, realign_starts=realign)
        ids = dict(zip(log.customers, synthetic_ids(log.n_customers), strict=True))
        df[log.key] = df[log.key].map(ids)
        return EventLog.from_frame(df, self.schema)

    def save(self, path: str | Path) -> Path:
        self._require_fitted()
        extra = {
            "history": self.history,
            "codec": asdict(self.codec),
            "encoder": {
                "event_vocab": self.encoder.event_vocab,
                "context_vocab": self.encoder.context_vocab,
                "time_span": self.encoder.time_span,
            },
        }
        return save_model(
            path,
            generator=self.name,
            state=self.net.state_dict(),
            config=self.config.to_dict(),
            schema=self.schema,
            privacy=self._privacy,
            extra={**extra, "profile": None if self.profile is None else self.profile.to_dict()},
        )

    @classmethod
    def load(cls, path: str | Path) -> NeuralGenerator:
        state, config, meta = load_model(path, generator=cls.name)
        gen = cls(cls.config_cls.from_dict({**cls.saved_defaults, **config}))
        gen.schema = Schema.from_dict(meta["schema"])
        gen.encoder = JourneyEncoder(gen.schema)
        gen.codec = Binning.make(gen.encoder, gen.config)
        check_codec(asdict(gen.codec), meta, path)
        net = build_checked(lambda: gen._build(gen.codec), state, path)
        gen.net = net.eval()
        gen.history = meta.get("history") or []
        gen._privacy = meta.get("privacy")
        prof = meta.get("profile")
        gen.profile = JourneyProfile.from_dict(prof) if prof else None
        return gen

    # --- helpers -------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.net is None:
            raise ConfigError(
                f"the {self.name} generator is not fitted; call fit(log) or "
                "load a saved model first"
            )

    def _fixed_classes(self, cond: dict[str, Any]) -> tuple[dict[int, int], dict[int, float]]:
        """Conditions as context classes (index in ctx order), and exact numeric values."""
        enc, fixed, exact = self.encoder, {}, {}
        for j, c in enumerate(enc.ctx_cat):
            if c.name in cond:
                fixed[j] = c.values.index(cond[c.name])
        for j, c in enumerate(enc.ctx_num):
            if c.name in cond:
                u = (cond[c.name] - c.min) / (c.max - c.min) if c.max > c.min else 0.0
                k = len(enc.ctx_cat) + j
                fixed[k] = int(Binning.to_bin(torch.tensor([u]), self.codec.numeric_bins)[0])
                exact[j] = u
        return fixed, exact

    def _to_encoded(
        self, parts: list[dict[str, torch.Tensor]], exact: dict[int, float], gen: torch.Generator
    ) -> EncodedJourneys:
        L = max(p["tokens"].shape[1] for p in parts)

        def cat(key: str) -> torch.Tensor:
            ts = [p[key] for p in parts]
            if ts[0].dim() >= 2 and key not in ("ctx",):
                ts = [
                    torch.nn.functional.pad(t, (0, 0) * (t.dim() - 2) + (0, L - t.shape[1]))
                    for t in ts
                ]
            return torch.cat(ts, dim=0)

        ctx_tok, ctx_num = self.codec.ctx_values(cat("ctx"), gen)
        for j, u in exact.items():
            ctx_num[:, j] = u
        n = sum(len(p["lengths"]) for p in parts)
        return EncodedJourneys(
            customer_ids=synthetic_ids(n),
            lengths=cat("lengths"),
            tokens=cat("tokens"),
            numerics=cat("numerics").double(),
            gaps=cat("gaps").double(),
            start=cat("start").double(),
            context_tokens=ctx_tok,
            context_numerics=ctx_num,
        )


def profile_rho(plan: DPPlan, total: float) -> float:
    """The zCDP rho the profile's Gaussian tables may spend beside `plan`'s DP-SGD steps,
    the two composed in one RDP accountant at the plan's delta, for a joint epsilon of at
    most `total` (privacy/accountant.py)."""
    rho = gaussian_room(
        sample_rate=plan.sample_rate,
        noise_multiplier=plan.noise_multiplier,
        steps=plan.steps,
        delta=plan.delta,
        target_epsilon=total,
    )
    if not rho > 0:
        raise PrivacyBudgetError(
            f"the DP-SGD plan spends all of epsilon={total:g} and leaves nothing for the "
            "journey profile; raise profile_share or epsilon, or fit with profile=False"
        )
    return rho


def profile_epsilon(record: dict[str, Any], rho: float) -> float:
    """What a profile of `rho` adds to the epsilon of the DP-SGD steps in `record` (the
    joint epsilon of both, by the RDP accountant, less the steps' own)."""
    joint = joint_epsilon(
        sample_rate=record["sample_rate"],
        noise_multiplier=record["noise_multiplier"],
        steps=record["steps"],
        delta=record["delta"],
        rho=rho,
    )
    return max(joint - float(record["epsilon"]), 0.0)
