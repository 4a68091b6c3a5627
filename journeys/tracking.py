"""MLflow: one store, one convention, used by every part of JourneyLab.

Store: `sqlite:///mlruns/mlflow.db` (relative to the working directory) with
artifacts under `mlruns/artifacts/`; `MLFLOW_TRACKING_URI` overrides the store.

Convention (later parts follow it):
- experiment: `journeylab/<dataset name>` (one per dataset schema);
- run name: `<kind>-<detail>-<UTC time>`, e.g. `fit-vae-eps8-20261125T101500`;
- tags: `journeylab.kind` (one of KINDS), `journeylab.dataset`,
  `journeylab.dataset_fingerprint` (EventLog.fingerprint() of the real data the
  run read), `journeylab.version`, plus kind-specific ones such as
  `journeylab.generator` and `journeylab.epsilon`.
A run that raises is ended with status FAILED and tagged `journeylab.error`,
so nothing is recorded as if it had succeeded. Every run records its owner
(`journeylab.pid`, `.host`, `.pid_start`); a run left RUNNING by a process that
is gone (killed, say with SIGKILL) is ended FAILED, with the reason, the next
time a command on the same host opens the store.

The store is created under an exclusive file lock (`mlruns/.store.lock`), so
commands started together on a fresh store do not race to create its tables.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from journeylab.journeys.errors import ConfigError

KINDS = ("data", "compare", "fit", "sample", "evaluate", "audit", "predict", "scenario")
TAG = "journeylab."
STORE_DIR = "mlruns"


def tracking_uri(root: str | Path | None = None) -> str:
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    base = Path(root or Path.cwd()).resolve() / STORE_DIR
    return f"sqlite:///{base / 'mlflow.db'}"


def artifact_root(root: str | Path | None = None) -> str:
    return (Path(root or Path.cwd()).resolve() / STORE_DIR / "artifacts").as_uri()


_OPENED: set[str] = set()  # stores this process has created and swept


def open_store(root: str | Path | None = None):
    """Point MLflow at the JourneyLab store (creating it) and return an MlflowClient.

    The first open in a process creates the store under a file lock and ends the
    runs of dead processes FAILED (`end_orphaned_runs`)."""
    import mlflow

    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    if uri in _OPENED:
        return mlflow.MlflowClient(uri)
    with store_lock(uri):
        client = mlflow.MlflowClient(uri)
        client.search_experiments(max_results=1)  # creates the tables, once, under the lock
        end_orphaned_runs(client)
    _OPENED.add(uri)
    return client


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Exclusive lock beside a sqlite store, held while its tables or experiments are made."""
    if not uri.startswith("sqlite:///"):
        yield  # a server store serialises itself
        return
    folder = Path(uri.removeprefix("sqlite:///")).parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(folder / ".store.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:  # a read-only store: nobody can be creating its tables
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def owner_tags() -> dict[str, str]:
    """Who runs this process: recorded on every run so an orphan can be recognised."""
    pid = os.getpid()
    return {
        f"{TAG}pid": str(pid),
        f"{TAG}host": socket.gethostname(),
        f"{TAG}pid_start": process_start(pid) or "",
    }


def process_start(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks after boot, Linux), None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def owner_gone(tags: dict[str, str]) -> str | None:
    """Why the process that owns a run is gone, or None (alive, other host, unknown)."""
    pid, host, start = tags.get(f"{TAG}pid"), tags.get(f"{TAG}host"), tags.get(f"{TAG}pid_start")
    if not pid or host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return f"its process {pid} on {host} is gone (killed or crashed)"
    except (PermissionError, ValueError):
        return None
    now = process_start(int(pid))
    if start and now and now != start:
        return f"its process {pid} on {host} is gone (the pid now belongs to another process)"
    return None


def end_orphaned_runs(client) -> list[str]:
    """End FAILED every RUNNING JourneyLab run whose process is gone; their ids."""
    exps = [
        e.experiment_id for e in client.search_experiments() if e.name.startswith("journeylab/")
    ]
    if not exps:
        return []
    ended = []
    for run in client.search_runs(exps, "attributes.status = 'RUNNING'", max_results=1000):
        why = owner_gone(run.data.tags)
        if why is None:
            continue
        try:
            client.set_tag(run.info.run_id, f"{TAG}error", f"orphaned: {why}; the run never ended")
            client.set_terminated(run.info.run_id, status="FAILED")
        except Exception:  # noqa: BLE001 - e.g. a read-only store: tried again on the next open
            continue
        ended.append(run.info.run_id)
    return ended


def experiment_name(dataset: str) -> str:
    return f"journeylab/{dataset}"


def ensure_experiment(client, dataset: str, root: str | Path | None = None) -> str:
    name = experiment_name(dataset)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    uri = tracking_uri(root)
    with store_lock(uri):  # two commands may create the same experiment at once
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        return client.create_experiment(name, artifact_location=f"{artifact_root(root)}/{dataset}")


def run_name(kind: str, detail: str = "") -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return "-".join(p for p in (kind, detail, stamp) if p)


@contextmanager
def start_run(
    kind: str,
    *,
    dataset: str,
    fingerprint: str,
    detail: str = "",
    tags: dict[str, Any] | None = None,
    root: str | Path | None = None,
) -> Iterator:
    """Open a tagged MLflow run; a run that raises ends FAILED, never FINISHED."""
    if kind not in KINDS:
        raise ConfigError(f"run kind '{kind}' is not one of {KINDS}")
    import mlflow

    from journeylab.journeys import __version__

    client = open_store(root)
    exp_id = ensure_experiment(client, dataset, root)
    all_tags = {
        f"{TAG}kind": kind,
        f"{TAG}dataset": dataset,
        f"{TAG}dataset_fingerprint": fingerprint,
        f"{TAG}version": __version__,
        **owner_tags(),
    }
    all_tags.update(
        {(k if k.startswith(TAG) else TAG + k): str(v) for k, v in (tags or {}).items()}
    )
    run = mlflow.start_run(experiment_id=exp_id, run_name=run_name(kind, detail), tags=all_tags)
    try:
        yield run
    except BaseException as e:
        mlflow.set_tag(f"{TAG}error", f"{type(e).__name__}: {e}"[:5000])
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run(status="FINISHED")


def find_runs(
    *,
    dataset: str | None = None,
    kind: str | None = None,
    root: str | Path | None = None,
    max_results: int = 1000,
) -> list:
    """Finished runs matching the convention, newest first."""
    client = open_store(root)
    exps = [
        e.experiment_id
        for e in client.search_experiments()
        if e.name.startswith("journeylab/")
        and (dataset is None or e.name == experiment_name(dataset))
    ]
    if not exps:
        return []
    filt = ["attributes.status = 'FINISHED'"]
    if kind:
        filt.append(f"tags.`{TAG}kind` = '{kind}'")
    return client.search_runs(
        exps, " and ".join(filt), max_results=max_results, order_by=["attributes.start_time DESC"]
    )
