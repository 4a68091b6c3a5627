"""`journeylab app`: start the Streamlit app on loopback, reading a JourneyLab store."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from journeylab.journeys.errors import ConfigError


def resolve_store(path: str) -> str:
    """An MLflow URI from --store: a URI, a .db file, a folder holding mlflow.db, or a
    project folder holding mlruns/mlflow.db."""
    if "://" in path:
        return path
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise ConfigError(
            f"--store {path} does not exist; pass the project folder (holding "
            "mlruns/), the mlruns folder, its mlflow.db, or an MLflow URI"
        )
    if p.is_file():
        return f"sqlite:///{p}"
    for db in (p / "mlflow.db", p / "mlruns" / "mlflow.db"):
        if db.is_file():
            return f"sqlite:///{db}"
    return f"sqlite:///{p / 'mlruns' / 'mlflow.db'}"  # the app says it is empty


def server_env(uri: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GIT_PYTHON_REFRESH", "quiet")
    env.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    if uri is not None:
        env["MLFLOW_TRACKING_URI"] = uri
        if uri.startswith("sqlite:///"):  # the ledger lives beside the store it belongs to
            db = Path(uri.removeprefix("sqlite:///"))
            env["JOURNEYLAB_LEDGER"] = str(db.parent / "privacy" / "ledger.jsonl")
    return env


def server_command(host: str, port: int) -> list[str]:
    """The server process (app/server.py): `streamlit run` with imports warmed early."""
    return [
        sys.executable,
        "-m",
        "journeylab.app.server",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--global.developmentMode",
        "false",
    ]


def _check_port(host: str, port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({e.strerror}); pick another port with --port N"
            ) from e


def app_command(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    store: Annotated[
        str | None,
        typer.Option(
            help="Project folder, mlruns folder, mlflow.db or MLflow URI (default: "
            "$MLFLOW_TRACKING_URI, else ./mlruns/mlflow.db)."
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; loopback by default (the app has no login).")
    ] = "127.0.0.1",
) -> None:
    """Start the Streamlit app: runs, journeys, fidelity, privacy, predictors, generate."""
    from rich.console import Console

    uri = resolve_store(store) if store is not None else None
    _check_port(host, port)
    env = server_env(uri)
    shown = uri or env.get("MLFLOW_TRACKING_URI") or "./mlruns/mlflow.db"
    Console(stderr=True, markup=False).print(
        f"JourneyLab app on http://{host}:{port} (store {shown}); Ctrl+C stops it"
    )
    # exec: the server replaces this process, so stopping this pid stops the server.
    os.execve(sys.executable, server_command(host, port), env)


def add_commands(app: typer.Typer) -> None:
    app.command("app")(app_command)
