"""Configuration of the DP sequence generators: frozen, validated, JSON round-trip.

    cfg = VAEConfig(epochs=20)           # or create("vae", {"epochs": 20})
    VAEConfig.from_dict(cfg.to_dict()) == cfg

Defaults are sized for the Complete Journey train split (~1,200 households,
journeys up to ~700 events, mean 64) to train in a few minutes on 2 CPU cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from journeylab.journeys.config import strict_from_dict
from journeylab.journeys.errors import ConfigError

PART_MODES = ("auto", "on", "off")  # the profile's optional parts: rhythm, values, context


@dataclass(frozen=True)
class CommonConfig:
    """Settings shared by the GAN and the VAE.

    epochs: passes over the customers (under DP: expected passes; the planned
        steps are round(epochs * N / batch_size), and the noise is calibrated to them).
    batch_size: customers per step; under DP the *expected* size of a Poisson batch.
    lr: Adam learning rate.
    d_model: width of every hidden layer.
    n_layers: residual blocks of the dilated convolution stack (dilations 1, 2, 4, ...).
    kernel_size: taps of each dilated convolution.
    numeric_bins, gap_bins, start_bins: resolution of the discretised numeric values,
        log inter-event gaps and first-event times.
    max_length: longest journey generated; None = the schema's max_length.
    max_steps: hard cap on optimisation steps (None = epochs decide).
    tokens_per_chunk: events per forward pass; a batch is split into length-sorted
        chunks of at most this many padded events (same result, less padding).
    patience: early stopping (non-DP only) after this many epochs without a lower
        training loss; None = off.
    sample_batch_size: journeys generated in parallel by `sample`.
    seed: seeds initialisation, batches, noise and every other random draw of `fit`.
    profile: learn the journey profile (generators/profile.py: length and span shape,
        calendar, per-journey constants) and impose it on samples.
    profile_share: under DP, the share of the training epsilon the profile is planned
        at: DP-SGD's noise is calibrated to the rest, and the profile's Gaussian tables
        get what the training's epsilon leaves of the total when both are composed in one
        RDP accountant (more than this share buys alone). Both are recorded in the ledger
        and card.
        25%: on Complete Journey at epsilon 8 (BENCHMARKS.md) 10% left the calendar's
        tables to noise (the hours of day gave journeys away), while DP-SGD at 6 instead
        of 7.2 trains about as well.
    oversample: candidate journeys generated per journey returned, from which the
        profile's shape is matched (1 = no matching).
    rhythm: redraw each journey's gaps from the profile's rhythm (generators/rhythm.py:
        same-day share per length class, spread of multi-day gaps, same-day seconds):
        "auto" = under DP only (a DP-SGD model's gaps are its weakest part), "on", "off".
    values: map numeric values (amounts) to the profile's histogram by rank
        (generators/values.py): "auto" = with and without DP (without DP its tables are
        exact; in the bench without DP the reviewer went from 0.929 to 0.919 on Complete
        Journey and from 0.678 to 0.652 on the retail simulator, BENCHMARKS.md), "on",
        "off".
    context: draw the categorical context columns from the profile's tree of pair
        tables (generators/context_tree.py) instead of the model's context head:
        "auto" = under DP only (DP-SGD learns the columns' joint badly), "on", "off";
        constant event columns (a home store) and, with values, the customers' levels
        of spend join the tree and are drawn given each journey's context.
    calibrate: bias the channel and event-type logits so that each value's share of a
        customer's events is the profile calendar's (generators/calibrate.py; VAE only):
        "auto" = under DP only, "on", "off".
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    d_model: int = 64
    n_layers: int = 6
    kernel_size: int = 3
    numeric_bins: int = 64
    gap_bins: int = 128
    start_bins: int = 128
    max_length: int | None = None
    max_steps: int | None = None
    tokens_per_chunk: int = 8192
    patience: int | None = None
    sample_batch_size: int = 1024
    seed: int = 0
    profile: bool = True
    profile_share: float = 0.25
    oversample: float = 3.0
    rhythm: str = "auto"
    values: str = "auto"
    context: str = "auto"
    calibrate: str = "auto"

    def __post_init__(self) -> None:
        p = _type_problems(self) or self._problems()  # range checks need the right types
        if p:
            raise ConfigError(f"{type(self).__name__}: " + "; ".join(p))

    def _problems(self) -> list[str]:
        p = []
        positive = [
            "epochs",
            "batch_size",
            "d_model",
            "n_layers",
            "kernel_size",
            "numeric_bins",
            "gap_bins",
            "start_bins",
            "tokens_per_chunk",
            "sample_batch_size",
        ]
        for name in positive:
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                p.append(f"{name} must be a positive integer, got {v!r}")
        for name in ("max_length", "max_steps", "patience"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                p.append(f"{name} must be a positive integer or None, got {v!r}")
        if not isinstance(self.lr, (int, float)) or not 0 < self.lr < 1:
            p.append(f"lr must be in (0, 1), got {self.lr!r}")
        if not isinstance(self.seed, int):
            p.append(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.profile, bool):
            p.append(f"profile must be true or false, got {self.profile!r}")
        if not isinstance(self.profile_share, (int, float)) or not 0 < self.profile_share < 1:
            p.append(f"profile_share must be in (0, 1), got {self.profile_share!r}")
        if not isinstance(self.oversample, (int, float)) or not 1 <= self.oversample <= 20:
            p.append(f"oversample must be between 1 and 20, got {self.oversample!r}")
        for part in ("rhythm", "values", "context", "calibrate"):
            if getattr(self, part) not in PART_MODES:
                p.append(f"{part} must be one of {PART_MODES}, got {getattr(self, part)!r}")
        return p

    def profile_parts(self, *, private: bool) -> tuple[str, ...]:
        """The profile's optional parts a fit (private or not) learns and imposes."""
        if not self.profile:
            return ()
        modes = {"rhythm": self.rhythm, "values": self.values, "context": self.context}
        always = {"values"}  # "auto" runs with and without DP
        return tuple(
            k for k, m in modes.items() if m == "on" or (m == "auto" and (private or k in always))
        )

    def calibrates(self, *, private: bool) -> bool:
        """Whether a fit (private or not) calibrates its token logits to the profile."""
        return self.profile and (self.calibrate == "on" or (self.calibrate == "auto" and private))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> CommonConfig:
        return strict_from_dict(cls, d)


@dataclass(frozen=True)
class VAEConfig(CommonConfig):
    """Sequence VAE. latent_dim: size of z; beta: weight of the KL term;
    free_bits: KL (nats) per latent dimension that is not penalised; it keeps z in use
    (without it the autoregressive decoder ignores z and journeys lose their spread).
    epochs: 100 by default (the GAN's default is 30).
    once_weight: weight of the once-per-journey terms (context columns, first-event time)
    against the per-event terms. A journey's event NLL is hundreds of nats, its start time
    a few: under per-customer clipping the small terms' share of the clipped gradient is
    drowned by DP noise (an unweighted DP fit leaves first-event times near uniform).
    recency: give the encoder and decoder, at each event, the time since the journey's
    last event of each channel and event-type value and how many it has had (log
    scales). What follows an event for weeks (a promotion's extra purchases, a case's
    deadline) is then read off the input instead of summed from gaps by the network.
    Models saved before this setting existed load with it off."""

    latent_dim: int = 16
    beta: float = 1.0
    free_bits: float = 0.5
    once_weight: float = 32.0
    recency: bool = True
    patience: int | None = 10
    # 100, not the shared 30: at 30 epochs (590 steps on Complete Journey) the VAE was
    # undertrained (length W1 ratio 4.2 -> 2.0, gap 2.0 -> 0.8 at 100; BENCHMARKS.md)
    epochs: int = 100

    def _problems(self) -> list[str]:
        p = super()._problems()
        if not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            p.append(f"latent_dim must be a positive integer, got {self.latent_dim!r}")
        if not self.beta >= 0:
            p.append(f"beta must be >= 0, got {self.beta!r}")
        if not self.free_bits >= 0:
            p.append(f"free_bits must be >= 0, got {self.free_bits!r}")
        if not self.once_weight > 0:
            p.append(f"once_weight must be > 0, got {self.once_weight!r}")
        if not isinstance(self.recency, bool):
            p.append(f"recency must be true or false, got {self.recency!r}")
        return p


@dataclass(frozen=True)
class GANConfig(CommonConfig):
    """Sequence GAN (DoppelGANger-like).

    lr: discriminator learning rate (lower than the VAE's: adversarial training is
        unstable at 2e-3).
    noise_dim: size of the per-journey and per-event noise.
    g_lr: generator learning rate (None = lr).
    d_steps: discriminator steps (each a DP step under DP) per generator step.
    drift: weight of the per-sample drift penalty drift * D(x)^2 on real and fake scores.
    instance_noise: standard deviation of Gaussian noise added to every discriminator input.
    length_weight: weight of each real customer's length-class NLL in its term of
        the discriminator's private update (it fits the length prior fakes are drawn from).
    """

    lr: float = 2e-4
    noise_dim: int = 16
    g_lr: float | None = None
    d_steps: int = 1
    drift: float = 1e-3
    instance_noise: float = 0.1
    length_weight: float = 1.0

    def _problems(self) -> list[str]:
        p = super()._problems()
        if not isinstance(self.noise_dim, int) or self.noise_dim < 1:
            p.append(f"noise_dim must be a positive integer, got {self.noise_dim!r}")
        if self.g_lr is not None and not 0 < self.g_lr < 1:
            p.append(f"g_lr must be in (0, 1) or None, got {self.g_lr!r}")
        if not isinstance(self.d_steps, int) or self.d_steps < 1:
            p.append(f"d_steps must be a positive integer, got {self.d_steps!r}")
        if not self.drift >= 0:
            p.append(f"drift must be >= 0, got {self.drift!r}")
        if not self.instance_noise >= 0:
            p.append(f"instance_noise must be >= 0, got {self.instance_noise!r}")
        if not self.length_weight > 0:
            p.append(f"length_weight must be > 0, got {self.length_weight!r}")
        return p


_TYPES = {"int": (int,), "float": (int, float)}


def _type_problems(cfg) -> list[str]:
    """Each number-typed field holds a number of its type (e.g. `--config beta=abc`)."""
    p = []
    for f in fields(cfg):
        kind, _, optional = str(f.type).partition(" | ")
        if kind not in _TYPES:
            continue
        v = getattr(cfg, f.name)
        if v is None and optional == "None":
            continue
        if isinstance(v, bool) or not isinstance(v, _TYPES[kind]):
            what = "an integer" if kind == "int" else "a number"
            p.append(f"{f.name} must be {what}{' or None' if optional else ''}, got {v!r}")
    return p
