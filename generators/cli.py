"""CLI commands of the `generators` package: `journeylab fit` and `journeylab sample`.

Both are faces of the run layer (journeylab.runs): the same fit and sample runs the
Python API makes, with the ledger, MLflow and the model handled there. A fit that
fails ends its run FAILED and saves no model.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from journeylab.journeys.cli import SchemaOpt, TruncOpt, err, out, read_log
from journeylab.journeys.errors import ConfigError

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Generator: gan, vae or par.")]


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, str]:
    """['k=v', ...] -> {'k': 'v'}; a malformed pair names itself and the fix."""
    result = {}
    for p in pairs or []:
        if "=" not in p:
            raise ConfigError(f"{what} '{p}' is not KEY=VALUE; write e.g. {what} age=45-54")
        k, v = p.split("=", 1)
        result[k.strip()] = v.strip()
    return result


def _typed(v: str):
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def fit(
    data: Annotated[Path, typer.Option("--data", "-d", help="Real training log.")],
    model: ModelOpt = "vae",
    schema: SchemaOpt = None,
    truncate: TruncOpt = False,
    epsilon: Annotated[float | None, typer.Option(help="DP budget; omit for no DP.")] = None,
    delta: Annotated[float | None, typer.Option(help="DP delta (default < 1/N).")] = None,
    max_grad_norm: Annotated[float, typer.Option(help="Per-customer clipping bound.")] = 1.0,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    config: Annotated[
        list[str] | None,
        typer.Option("--config", "-c", help="Extra generator config KEY=VALUE (repeatable)."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Also save the model here (it is always logged to MLflow)."
        ),
    ] = None,
    devices: Annotated[
        int,
        typer.Option(min=1, help="Training processes per node (GPUs, or CPU processes); > 1: DDP."),
    ] = 1,
    num_nodes: Annotated[int, typer.Option(min=1, help="Machines training together (DDP).")] = 1,
    accelerator: Annotated[
        str,
        typer.Option(
            help="Where the neural generators train: auto (the GPU where PyTorch sees one, "
            "else the CPU), cpu or gpu."
        ),
    ] = "auto",
) -> None:
    """Train a journey generator on a real log (customer-level DP with --epsilon).

    With --devices/--num-nodes, one process per device trains on its share of the
    customers (DDP); only rank 0 records the run, the ledger entry and the model.
    """
    from journeylab.app.progress import fit_progress
    from journeylab.generators import create
    from journeylab.generators.distributed import is_worker
    from journeylab.runs import check_accelerator, check_model_out, fit_run

    cfg = {k: _typed(v) for k, v in parse_pairs(config, "--config").items()}
    if epochs is not None:
        cfg["epochs"] = epochs
    check_model_out(out_dir)  # refused before the data is read
    check_accelerator(create(model, cfg), accelerator)  # so is a GPU that is not there
    log = _fit_log(data, model, schema, truncate)
    worker = is_worker(devices, num_nodes)  # a DDP rank other than 0: rank 0 reports
    with nullcontext() if worker else fit_progress(err) as progress:
        result = fit_run(
            log,
            model=model,
            epsilon=epsilon,
            delta=delta,
            max_grad_norm=max_grad_norm,
            config=cfg,
            out_dir=out_dir,
            data_path=data,
            train_options={
                "progress": progress,
                "devices": devices,
                "num_nodes": num_nodes,
                "accelerator": accelerator,
            },
        )
    if worker:
        return
    record = result.record
    spent = (
        f", epsilon spent {record['epsilon']:.3g} (delta {record['delta']:.2g}) of {epsilon:g}"
        if record["dp"]
        else ", not private (ledger: epsilon = inf)"
    )
    out.print(
        f"fitted {model} in {result.fit_seconds:.1f}s{spent}; MLflow run {result.run_id}"
        + (f"; model in {out_dir}" if out_dir else ""),
        markup=False,
    )
    if result.generator.fit_scale is not None:
        out.print(f"note: {result.generator.fit_scale['note']}", markup=False)


def _fit_log(data: Path, model: str, schema: str | None, truncate: bool):
    """The training log: a partitioned dataset is validated in one pass and then read in
    chunks by a generator that streams (never held whole); anything else is read whole."""
    from journeylab.generators.base import registry
    from journeylab.journeys import datasets
    from journeylab.journeys.partitioned import is_partitioned
    from journeylab.journeys.streamed import StreamedLog

    if not (is_partitioned(data) and getattr(registry().get(model), "streams", False)):
        return read_log(data, schema, truncate)
    with err.status(f"validating {data} part by part (it is read in chunks, never whole)"):
        log = StreamedLog.open(data, datasets.resolve_schema(schema, data), truncate=truncate)
    for note in log.report.notes:
        err.print(f"note: {data}: {note}", style="yellow")
    if (hint := allocator_hint()) is not None:
        err.print(f"note: {hint}", style="yellow", markup=False)
    return log


def allocator_hint(environ=None, libc: str | None = None) -> str | None:
    """A note for a long fit on glibc's malloc, where jemalloc is not preloaded: glibc
    keeps the blocks a DP-SGD step frees and the resident memory grows over the epoch
    (bench/bench_memory.py: 1,045 to 2,078 MiB over 156 steps at 10,000 customers,
    against 731 to 847 with jemalloc, 3% more CPU a step). None elsewhere."""
    import os
    import platform

    environ = os.environ if environ is None else environ
    libc = platform.libc_ver()[0] if libc is None else libc
    if libc != "glibc" or "jemalloc" in environ.get("LD_PRELOAD", ""):
        return None
    return (
        "glibc's malloc keeps what each DP-SGD step frees, so a long fit's memory grows "
        "over the epoch; to keep it flat, install jemalloc (apt-get install libjemalloc2) "
        "and run with LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 "
        "(README, Large logs)"
    )


def sample(
    n: Annotated[
        int | None,
        typer.Option("-n", help="Number of journeys (default 1000; with --context, its rows)."),
    ] = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="Output .parquet")] = Path(
        "synthetic.parquet"
    ),
    model_dir: Annotated[Path | None, typer.Option(help="Saved model folder.")] = None,
    run_id: Annotated[str | None, typer.Option(help="MLflow run of `journeylab fit`.")] = None,
    condition: Annotated[
        list[str] | None, typer.Option(help="Fix a context value KEY=VALUE (repeatable).")
    ] = None,
    context: Annotated[
        Path | None,
        typer.Option(
            help="Table of customers (.parquet/.csv): one journey per row, its context "
            "columns fixed (empty cells generated)."
        ),
    ] = None,
    seed: int = 0,
    batch_size: Annotated[int, typer.Option(help="Journeys per batch.")] = 1000,
    workers: Annotated[
        int,
        typer.Option(
            help="Processes that sample batches in parallel; the output is the same for any "
            "number (each batch has its own seed)."
        ),
    ] = 1,
    partitioned: Annotated[
        bool,
        typer.Option(
            "--partitioned",
            help="Write OUT as a partitioned dataset folder (parts by a hash of the id, "
            "read by every command that reads a log) instead of one file.",
        ),
    ] = False,
    prefix: Annotated[
        Path | None,
        typer.Option(
            help="Journeys to continue (.parquet/.csv, the model's schema): each is kept "
            "exactly and completed by the model (VAE only)."
        ),
    ] = None,
    horizon: Annotated[
        float | None, typer.Option(help="With --prefix: days past each prefix's last event.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="With --prefix: no new event after this time.")
    ] = None,
    prefix_source: Annotated[
        str,
        typer.Option(
            help="With --prefix: 'real' (personal data, not covered by DP) or 'synthetic'."
        ),
    ] = "real",
) -> None:
    """Sample synthetic journeys from a trained generator, streamed to Parquet.

    Sampling a DP generator costs no extra budget (post-processing). With --prefix,
    the given journeys are completed instead; real prefixes are personal data and
    the output is not covered by the model's DP guarantee."""
    from rich.progress import Progress

    from journeylab.journeys.eventlog import read_table
    from journeylab.runs import sample_run

    if prefix is not None:
        if n is not None or condition or context is not None or workers != 1 or partitioned:
            raise ConfigError(
                "--prefix completes the given journeys; leave out -n, --condition, "
                "--context, --workers and --partitioned"
            )
        _complete(prefix, output, model_dir, run_id, seed, horizon, until, prefix_source)
        return
    if horizon is not None or until is not None:
        raise ConfigError("--horizon and --until apply to --prefix only; add --prefix FILE")
    conditions = parse_pairs(condition, "--condition") or None
    table = None if context is None else read_table(context)
    if table is not None and n not in (None, len(table)):
        raise ConfigError(
            f"-n {n} but --context {context} has {len(table)} rows; one journey per row, "
            "so leave out -n"
        )
    n = (1000 if table is None else len(table)) if n is None else n
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("sampling", total=n)
        result = sample_run(
            n=n,
            out=output,
            model_dir=model_dir,
            run_id=run_id,
            seed=seed,
            batch_size=batch_size,
            workers=workers,
            partitioned=partitioned,
            conditions=conditions,
            context=table,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    out.print(
        f"sampled {result.customers} journeys ({result.events} events) in "
        f"{result.seconds:.1f}s -> {output}",
        markup=False,
    )


def _complete(prefix, output, model_dir, run_id, seed, horizon, until, source) -> None:
    """`sample --prefix`: complete the given journeys (journeylab.whatif.complete_run)."""
    from journeylab.whatif import complete_run

    result = complete_run(
        prefix=prefix,
        out=output,
        model_dir=model_dir,
        run_id=run_id,
        seed=seed,
        horizon=horizon,
        until=until,
        source=source,
    )
    out.print(
        f"completed {result.customers} journeys ({result.events} events, prefix: {source}) "
        f"in {result.seconds:.1f}s -> {output}",
        markup=False,
    )
    if source == "real":
        err.print(
            "note: real prefixes are personal data; this file is not covered by the "
            "model's DP guarantee",
            markup=False,
        )


def scenario_run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML (generators/scenario.py).")],
    model_dir: Annotated[Path | None, typer.Option(help="Saved VAE folder.")] = None,
    run_id: Annotated[str | None, typer.Option(help="MLflow run of `journeylab fit`.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of both arms (common random numbers).")] = 0,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Also run the simulator for the true effect.")
    ] = False,
) -> None:
    """Run a what-if scenario: the population with and without the intervention, both
    arms completed by the model from the same seed; effects with intervals, to MLflow."""
    from journeylab.whatif import scenario_run as run

    done = run(scenario, model_dir=model_dir, run_id=run_id, seed=seed, truth=simulate)
    out.print(done.report, markup=False)
    out.print(f"MLflow run {done.run_id}", markup=False)


def add_commands(app: typer.Typer) -> None:
    app.command("fit")(fit)
    app.command("sample")(sample)
    scenario = typer.Typer(no_args_is_help=True, help="What-if scenarios with a trained model.")
    scenario.command("run")(scenario_run)
    app.add_typer(scenario, name="scenario")
