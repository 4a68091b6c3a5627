"""The privacy card: what a run's epsilon covers, in Markdown and HTML, for reviewers.

    card = PrivacyCard.from_record(record)       # record: see `normalise_record`
    card.markdown, card.html                      # HTML embeds the epsilon-over-steps plot
    card.write("out/")                            # card.md, card.html, epsilon_over_steps.png
    recompute_epsilon(card.numbers) == card.numbers["epsilon_total"]

The card holds every number needed to recompute epsilon (a JSON block in both
formats, `card_numbers(markdown)` reads it back) and `recompute_epsilon` does
it with Opacus' accountant from (noise multiplier, sampling rate, steps) and
delta, with the journey profile's Gaussian tables as one more full-batch Gaussian
step of its noise multiplier in the same RDP accountant, plus the preprocessing
epsilons, under basic composition.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.files import atomic_write_files
from journeylab.privacy.card_render import render_html, render_markdown

_META = ("run_id", "dataset", "generator", "dataset_fingerprint", "audits", "ledger")
_NUMBERS_RE = re.compile(r"<!-- privacy-numbers -->\s*```json\n(.*?)\n```", re.S)


def normalise_record(record: dict[str, Any]) -> dict[str, Any]:
    """Accept a training record (`DPSpend.record()`: dp, epsilon, delta, noise_multiplier,
    sample_rate, steps, ...) or a composite {"training": {...}, "preprocessing": {...},
    "dataset_fingerprint", "run_id", "generator", "audits", "ledger"}."""
    if not isinstance(record, dict):
        raise ConfigError(f"a privacy record must be a dict, got {type(record).__name__}")
    if "training" in record:
        rec = dict(record)
    else:  # a bare training record: lift the run's metadata out of it
        rec = {k: record[k] for k in _META if k in record}
        rec["training"] = {k: v for k, v in record.items() if k not in _META}
    train = rec.get("training") or {}
    pre = rec.get("preprocessing") or {"epsilon": 0.0, "delta": 0.0, "domains": {}}
    dp = bool(train.get("dp", "noise_multiplier" in train))
    if dp:
        missing = [
            k
            for k in ("noise_multiplier", "sample_rate", "steps", "delta", "epsilon")
            if k not in train
        ]
        if missing:
            raise ConfigError(
                f"the training record lacks {missing}; a DP record needs them to recompute epsilon"
            )
    t_eps = float(train["epsilon"]) if dp else math.inf
    t_delta = float(train.get("delta", 0.0)) if dp else 0.0
    prof = rec.get("profile") or train.get("profile") or {"epsilon": 0.0, "delta": 0.0}
    train = {k: v for k, v in train.items() if k != "profile"}
    return {
        **rec,
        "dp": dp,
        "training": train,
        "preprocessing": pre,
        "profile": prof,
        "epsilon_total": t_eps + float(pre.get("epsilon", 0.0)) + float(prof["epsilon"]),
        "delta_total": t_delta + float(pre.get("delta", 0.0)) + float(prof.get("delta", 0.0)),
    }


def card_numbers_from(rec: dict[str, Any]) -> dict[str, Any]:
    """The numbers a reviewer needs to recompute epsilon (exact floats)."""
    t, p = rec["training"], rec["preprocessing"]
    training = None
    if rec["dp"]:
        training = {
            k: t.get(k)
            for k in (
                "accountant",
                "noise_multiplier",
                "sample_rate",
                "steps",
                "delta",
                "epsilon",
                "max_grad_norm",
            )
        }
        training["accountant"] = training["accountant"] or "rdp"
    return {
        "unit": "customer",
        "composition": (
            "training and journey profile: one RDP accountant (the profile's Gaussian "
            "tables as one full-batch Gaussian step); preprocessing: basic (epsilons "
            "and deltas add up)"
        ),
        "dataset_fingerprint": rec.get("dataset_fingerprint"),
        "epsilon_total": rec["epsilon_total"],
        "delta_total": rec["delta_total"],
        "training": training,
        "profile": {
            "epsilon": float(rec["profile"].get("epsilon", 0.0)),
            "delta": float(rec["profile"].get("delta", 0.0)),
            "mechanism": rec["profile"].get("mechanism"),
            "composition": rec["profile"].get("composition", "basic"),
            "rho": rec["profile"].get("rho"),
            "noise_multiplier": rec["profile"].get("noise_multiplier"),
            "parts": rec["profile"].get("parts") or {},
        },
        "preprocessing": {
            "epsilon": float(p.get("epsilon", 0.0)),
            "delta": float(p.get("delta", 0.0)),
            "domains": {
                k: {"epsilon": v["epsilon"], "delta": v["delta"], "mechanism": v.get("mechanism")}
                for k, v in (p.get("domains") or {}).items()
            },
        },
    }


# --- recomputation ------------------------------------------------------------------
def training_epsilon(
    *,
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    delta: float,
    accountant: str = "rdp",
) -> float:
    """Epsilon of `steps` Poisson-subsampled Gaussian steps, by Opacus' accountant."""
    import warnings

    from opacus.accountants import create_accountant

    if steps == 0:
        return 0.0
    acc = create_accountant(mechanism=accountant)
    acc.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(acc.get_epsilon(delta=delta))


def recompute_epsilon(numbers: dict[str, Any]) -> float:
    """Total epsilon from a card's numbers: training and journey profile (one RDP
    accountant: the profile's Gaussian tables are one full-batch Gaussian step of its
    noise multiplier; a profile of Laplace tables, from before, adds its epsilon) +
    preprocessing domains."""
    t = numbers.get("training")
    prof = numbers.get("profile") or {}
    domains = numbers.get("preprocessing", {}).get("domains", {})
    pre = math.fsum(d["epsilon"] for d in domains.values())
    if t is None:
        return math.inf
    if prof.get("composition") == "rdp" and prof.get("noise_multiplier"):
        import warnings

        from opacus.accountants import RDPAccountant

        acc = RDPAccountant()
        acc.history = [
            (float(t["noise_multiplier"]), float(t["sample_rate"]), int(t["steps"])),
            (float(prof["noise_multiplier"]), 1.0, 1),
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(acc.get_epsilon(delta=float(t["delta"]))) + pre
    eps = training_epsilon(
        noise_multiplier=t["noise_multiplier"],
        sample_rate=t["sample_rate"],
        steps=t["steps"],
        delta=t["delta"],
        accountant=t.get("accountant") or "rdp",
    )
    return eps + pre + float(prof.get("epsilon", 0.0))


def epsilon_curve(
    *, noise_multiplier: float, sample_rate: float, steps: int, delta: float, points: int = 60
) -> tuple[list[int], list[float]]:
    """RDP epsilon after s steps for up to `points` values of s (RDP is linear in s)."""
    from opacus.accountants import RDPAccountant
    from opacus.accountants.analysis import rdp

    orders = RDPAccountant.DEFAULT_ALPHAS
    one = rdp.compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=orders)
    xs = sorted({max(1, round(steps * i / points)) for i in range(1, points + 1)})
    ys = [float(rdp.get_privacy_spent(orders=orders, rdp=one * s, delta=delta)[0]) for s in xs]
    return xs, ys


def card_numbers(markdown: str) -> dict[str, Any]:
    """Read the numbers block back from a card's Markdown."""
    m = _NUMBERS_RE.search(markdown)
    if m is None:
        raise ConfigError("no privacy-numbers block in this card; was it made by PrivacyCard?")
    return json.loads(m.group(1))


# --- the card -----------------------------------------------------------------------
@dataclass(frozen=True)
class PrivacyCard:
    record: dict[str, Any]  # normalised
    numbers: dict[str, Any]
    plot_png: bytes | None
    recomputed_epsilon: float  # from `numbers` by Opacus, when the card is made

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PrivacyCard:
        rec = normalise_record(record)
        numbers = card_numbers_from(rec)
        return cls(rec, numbers, _plot(rec) if rec["dp"] else None, recompute_epsilon(numbers))

    @property
    def consistent(self) -> bool:
        """Does recomputing from the card's numbers give the recorded total epsilon?"""
        a, b = self.recomputed_epsilon, self.numbers["epsilon_total"]
        return a == b or math.isclose(a, b, rel_tol=1e-6)

    @property
    def markdown(self) -> str:
        return render_markdown(self)

    @property
    def html(self) -> str:
        return render_html(self)

    def write(self, directory: str | Path) -> Path:
        files = {
            "card.md": self.markdown,
            "card.html": self.html,
            "card_numbers.json": json.dumps(self.numbers, indent=2),
        }
        writers = {n: (lambda p, t=t: Path(p).write_text(t)) for n, t in files.items()}
        if self.plot_png:
            writers["epsilon_over_steps.png"] = lambda p: Path(p).write_bytes(self.plot_png)
        atomic_write_files(directory, writers)  # all of them or none
        return Path(directory)

    def log_to_mlflow(self, run_id: str, *, artifact_dir: str = "privacy_card") -> None:
        """Add the card to an MLflow run (the store must be open: journeys.tracking)."""
        import mlflow

        client = mlflow.MlflowClient()
        client.log_text(run_id, self.markdown, f"{artifact_dir}/card.md")
        client.log_text(run_id, self.html, f"{artifact_dir}/card.html")
        client.log_dict(run_id, self.numbers, f"{artifact_dir}/card_numbers.json")

    def png_base64(self) -> str | None:
        return base64.b64encode(self.plot_png).decode() if self.plot_png else None


def _plot(rec: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    t = rec["training"]
    xs, ys = epsilon_curve(
        noise_multiplier=t["noise_multiplier"],
        sample_rate=t["sample_rate"],
        steps=max(int(t["steps"]), 1),
        delta=t["delta"],
    )
    fig = Figure(figsize=(6, 3.2), dpi=100)
    ax = fig.add_subplot()
    ax.plot(xs, ys, label="RDP accountant")
    marks = t.get("epsilon_over_steps") or []
    if marks:
        ax.plot([m[0] for m in marks], [m[1] for m in marks], "o", ms=3, label="recorded")
    ax.set(
        xlabel="DP-SGD steps",
        ylabel=f"epsilon (delta={t['delta']:.2g})",
        title="Training epsilon over steps",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
