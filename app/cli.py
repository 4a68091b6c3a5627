"""The `journeylab` command: composes the CLI commands of every package.

User errors print one clear message and exit with status 2, without a traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer
from rich.console import Console
from rich.text import Text

from journeylab.journeys.errors import UserError
from journeylab.journeys.quiet import LIGHTNING_LOGGERS

app = typer.Typer(
    name="journeylab",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="JourneyLab: privacy-preserving synthetic customer journeys.",
)


def _register_all() -> None:
    for module in (
        "journeylab.journeys.cli",
        "journeylab.journeys.compare_cli",
        "journeylab.generators.cli",
        "journeylab.privacy.cli",
        "journeylab.predictors.cli",
        "journeylab.app.evaluate_cli",
        "journeylab.app.serve_cli",
    ):
        importlib.import_module(module).add_commands(app)


def _quiet_libraries() -> None:
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic", *LIGHTNING_LOGGERS, "sdv", "rdt", "copulas"):
        logging.getLogger(name).setLevel(logging.WARNING)


_register_all()


def main(argv: list[str] | None = None) -> None:
    _quiet_libraries()
    try:
        app(args=argv, standalone_mode=True)
    except UserError as e:
        # The message holds user text (paths, values): printed as text, never as markup.
        Console(stderr=True, soft_wrap=True).print(
            Text("error: ", style="bold red") + Text(str(e)), highlight=False
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
