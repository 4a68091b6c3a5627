"""The `journeylab` command: composes the CLI commands of every package.

User errors print one clear message and exit with status 2, without a traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console

from journeys.errors import UserError

app = typer.Typer(
    name="journeylab",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="JourneyLab: privacy-preserving synthetic customer journeys.",
)


def _register_all() -> None:
    import journeys.cli

    journeys.cli.register(app)
    for module in (
        "generators.cli",
        "privacy.cli",
        "predictors.cli",
        "app.evaluate_cli",
        "app.app_cli",
    ):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        mod.register(app)


def _quiet_libraries() -> None:
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic", "lightning", "pytorch_lightning", "sdv", "rdt", "copulas"):
        logging.getLogger(name).setLevel(logging.WARNING)


_register_all()


def main(argv: list[str] | None = None) -> None:
    _quiet_libraries()
    try:
        app(args=argv, standalone_mode=True)
    except UserError as e:
        Console(stderr=True).print(f"[bold red]error:[/] {e}", markup=True, highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
