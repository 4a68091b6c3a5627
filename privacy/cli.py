"""CLI commands of the `privacy` package: `journeylab privacy ledger|cap|card` and `audit`.

Registered into the one `journeylab` command by app/cli.py. Commands talk to
people; the functions they call never print.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from journeylab.journeys.cli import SchemaOpt, err, open_log, out, output_file
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.files import atomic_write_text

privacy_app = typer.Typer(
    help="Privacy budget ledger, caps and privacy cards.", no_args_is_help=True
)
LedgerOpt = Annotated[
    Path | None,
    typer.Option(
        "--ledger", help="Ledger file. Default: $JOURNEYLAB_LEDGER or mlruns/privacy/ledger.jsonl."
    ),
]
DatasetOpt = Annotated[
    str | None,
    typer.Option("--dataset", help="Dataset fingerprint (journeylab validate prints it)."),
]


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "inf" if math.isinf(x) else f"{x:.4g}"
    return "-" if x is None else str(x)


@privacy_app.command("ledger")
def ledger_show(
    dataset: DatasetOpt = None,
    ledger: LedgerOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Check every line and the hash chain; exit 1 if any fails."),
    ] = False,
    acknowledge: Annotated[
        int | None,
        typer.Option(
            "--acknowledge",
            help="Data owner: accept damaged line N as it is, charging --epsilon/--delta to "
            "--dataset for what it may have spent (appended; nothing is rewritten).",
        ),
    ] = None,
    epsilon: Annotated[float, typer.Option(help="With --acknowledge: epsilon to charge.")] = 0.0,
    delta: Annotated[float, typer.Option(help="With --acknowledge: delta to charge.")] = 0.0,
) -> None:
    """Every release recorded per dataset, with totals (basic composition) and caps."""
    from journeylab.privacy.ledger import Ledger

    led = Ledger(ledger)
    if acknowledge is not None:
        left = led.acknowledge(acknowledge, dataset=dataset, epsilon=epsilon, delta=delta)
        out.print(
            f"line {acknowledge} acknowledged; charged epsilon {_fmt(epsilon)}, delta "
            f"{_fmt(delta)} to {dataset or 'no dataset'}; {len(left)} problem(s) left",
            markup=False,
        )
        return
    if verify:
        _verify(led)
        return
    datasets = [dataset] if dataset else led.datasets()
    releases = led.entries(dataset)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "ledger": str(led.path),
                    "releases": [r.to_dict() for r in releases],
                    "totals": [led.spent(d).to_dict() for d in datasets],
                    "problems": led.problems(),
                    "verified": not led.verify().blocking,
                },
                default=str,
            )
        )
        return
    table = Table(
        "time",
        "dataset",
        "run",
        "mechanism",
        "epsilon",
        "delta",
        "status",
        title=f"releases in {led.path}",
    )
    for r in releases:
        table.add_row(
            r.time[:19],
            r.dataset,
            r.run_id,
            r.mechanism,
            _fmt(r.spent_epsilon),
            _fmt(r.spent_delta),
            r.status,
        )
    out.print(table)
    totals = Table(
        "dataset",
        "releases",
        "epsilon spent",
        "delta spent",
        "cap epsilon",
        "cap delta",
        "epsilon left",
        title="totals (basic composition: sums)",
    )
    for d in datasets:
        s = led.spent(d)
        totals.add_row(
            d,
            str(s.releases),
            _fmt(s.epsilon),
            _fmt(s.delta),
            _fmt(s.cap_epsilon),
            _fmt(s.cap_delta),
            _fmt(s.left_epsilon),
        )
    out.print(totals)
    for p in led.problems():
        err.print(f"note: {p}", markup=False, style="yellow")
    if led.verify().blocking:
        err.print(
            "the ledger fails to verify: totals are what can be read (a lower bound) and every "
            "new release is refused; run `journeylab privacy ledger --verify` for the repair",
            markup=False,
            style="yellow",
        )


def _verify(led) -> None:
    v = led.verify()
    for p in v.problems:
        out.print(str(p), markup=False)
    if v.legacy:
        out.print(
            f"{v.legacy} entr(y/ies) from before the hash chain (format 1): checksummed, "
            "not chained",
            markup=False,
        )
    if not v.blocking:
        out.print(f"{led.path}: verified, {len(v.records)} entries", markup=False)
        return
    err.print(
        f"{led.path}: {len(v.blocking)} line(s) fail to verify; new releases are refused. "
        "Fix: restore the lines from a backup or undo the edit; if an entry is lost, accept "
        f"it with `journeylab privacy ledger --acknowledge {v.blocking[0].line} --dataset "
        "FINGERPRINT --epsilon E` (E: what it may have spent)",
        markup=False,
    )
    raise typer.Exit(1)


@privacy_app.command("cap")
def cap(
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset fingerprint.")],
    epsilon: Annotated[float | None, typer.Option(help="Cap on total epsilon.")] = None,
    delta: Annotated[float | None, typer.Option(help="Cap on total delta.")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the cap.")] = False,
    ledger: LedgerOpt = None,
) -> None:
    """Set (or remove) the cap on the total budget of a dataset; later runs over it are refused."""
    from journeylab.privacy.ledger import Ledger

    if remove == (epsilon is not None):
        raise ConfigError("pass --epsilon E to set a cap, or --remove to remove it")
    s = Ledger(ledger).set_cap(dataset, None if remove else epsilon, delta)
    what = (
        "removed the cap"
        if remove
        else f"capped at epsilon {_fmt(s.cap_epsilon)}"
        + (f", delta {_fmt(s.cap_delta)}" if s.cap_delta is not None else "")
    )
    out.print(
        f"dataset {dataset}: {what}; spent epsilon {_fmt(s.epsilon)} in {s.releases} "
        f"release(s), left {_fmt(s.left_epsilon)}"
    )


@privacy_app.command("card")
def card(
    run_id: Annotated[str, typer.Option("--run-id", help="MLflow run of `journeylab fit`.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for card.md/.html. Default: privacy-card-<run>."),
    ] = None,
    log: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Also log the card to the run.")
    ] = True,
    ledger: LedgerOpt = None,
) -> None:
    """Write the privacy card of a fit run (from the privacy record it logged to MLflow)."""
    from journeylab.privacy.card import PrivacyCard

    record = run_privacy_record(run_id, ledger=ledger)
    pc = PrivacyCard.from_record(record)
    target = pc.write(out_dir or Path(f"privacy-card-{run_id[:12]}"))
    if log:
        pc.log_to_mlflow(run_id)
    out.print(
        f"privacy card of run {run_id}: epsilon {_fmt(pc.numbers['epsilon_total'])}, "
        f"delta {_fmt(pc.numbers['delta_total'])} -> {target}/card.md, card.html"
    )


def run_privacy_record(run_id: str, *, ledger: Path | None = None) -> dict[str, Any]:
    """The privacy record of an MLflow run: its privacy_record.json (composite) or
    privacy.json (training) artifact, audits.json if any, tags, and the ledger totals."""
    import mlflow

    from journeylab.journeys.tracking import TAG, open_store
    from journeylab.privacy.ledger import Ledger
    from journeylab.store import get_run

    client = open_store()
    run = get_run(client, run_id)
    tags = run.data.tags
    names = {a.path for a in client.list_artifacts(run_id)}
    record: dict[str, Any] = {"dp": False}
    for name in ("privacy_record.json", "privacy.json"):
        if name in names:
            record = mlflow.artifacts.load_dict(f"runs:/{run_id}/{name}")
            break
    if "audits.json" in names:
        record["audits"] = mlflow.artifacts.load_dict(f"runs:/{run_id}/audits.json")
    fp = tags.get(f"{TAG}dataset_fingerprint")
    record.setdefault("run_id", run_id)
    record.setdefault("dataset", tags.get(f"{TAG}dataset"))
    record.setdefault("generator", tags.get(f"{TAG}generator"))
    record.setdefault("dataset_fingerprint", fp)
    if fp and fp in Ledger(ledger).datasets():
        record.setdefault("ledger", Ledger(ledger).spent(fp).to_dict())
    return record


def audit(
    train: Annotated[Path, typer.Option("--train", help="Real training log.")],
    holdout: Annotated[Path, typer.Option("--holdout", help="Real holdout log.")],
    synthetic: Annotated[Path, typer.Option("--synthetic", help="Synthetic log.")],
    schema: SchemaOpt = None,
    seed: int = 0,
    max_targets: Annotated[
        int,
        typer.Option(
            help="Customers sampled per side (a partitioned log: its seeded subsample, the "
            "only part of it read into memory)."
        ),
    ] = 2000,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results as JSON.")] = None,
    mlflow_log: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log to MLflow.")] = True,
) -> None:
    """Membership inference (distance, density ratio), DCR share and exact copies.

    A partitioned log is never read whole: the audits use a seeded subsample of
    --max-targets customers of each log, exact copies are counted against every real
    customer (the output says how many). Computed on real data: not covered by the DP
    guarantee."""
    from journeylab.audit import audit_run
    from journeylab.journeys.datasets import resolve_schema
    from journeylab.privacy.audits import run_audits

    output_file(json_out, "--json")
    sch = resolve_schema(schema, train)  # one schema for all three logs
    tr, ho, syn = (open_log(p, sch) for p in (train, holdout, synthetic))
    logged = None
    with err.status("running privacy audits") as status:
        kw = {"seed": seed, "max_targets": max_targets, "progress": status.update}
        if mlflow_log:
            report, logged = audit_run(tr, ho, syn, synthetic_path=synthetic, **kw)
        else:
            report = run_audits(tr, ho, syn, **kw)
    table = Table("audit", "value", title=f"{synthetic} vs {train} / {holdout}")
    for k, v in report.metrics.items():
        table.add_row(k, _fmt(v))
    out.print(table)
    if report.scale:
        out.print(_scale_line(report.scale))
    out.print(f"caveat: {report.caveat}", style="yellow")
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(report.to_dict(), indent=2))
    if logged:
        out.print(f"logged to MLflow run {logged}")


def _scale_line(scale: dict) -> str:
    n, used = scale["customers"], scale["subsample_customers"]
    return (
        "customers: " + ", ".join(f"{r} {v:,}" for r, v in n.items()) + "; audited (a "
        f"subsample, seed {scale['subsample_seed']}): "
        + ", ".join(f"{r} {v:,}" for r, v in used.items())
        + (f"; {scale['all_customers']}" if scale["all_customers"] else "")
    )


def add_commands(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")
    app.command("audit")(audit)
