"""The server process of `journeylab app`: Streamlit, with the heavy imports started early.

`python -m journeylab.app.server [streamlit flags]` runs `streamlit run app/streamlit_app.py`
through Streamlit's own command-line entry, after importing what the pages need
(MLflow, Plotly, torch and the generators) and opening the MLflow store: the
server answers a few seconds later, and then the first page a person opens
does not wait for those imports. Once it serves, a background thread fills the caches
the pages' first views read (app/warmup.py): the default logs, their statistics.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

APP_FILE = Path(__file__).with_name("streamlit_app.py")


def warm() -> None:
    """Import and open what the first page needs; any failure is left to the page."""
    try:
        import mlflow
        import plotly.express as px

        from journeylab.app import event_logs, results, store, ui  # noqa: F401
        from journeylab.evaluation import charts  # noqa: F401
        from journeylab.generators.base import registry
        from journeylab.journeys import fidelity  # noqa: F401

        registry()  # torch and the generators
        px.scatter(x=[0], y=[0]).to_dict()  # plotly builds its templates on first use
        uri = store.store_uri()
        db = store.sqlite_file(uri)
        if db is None or db.is_file():
            mlflow.MlflowClient(uri).search_experiments(max_results=1)
    except Exception:  # the page reports store problems to the person
        logging.getLogger("journeylab.app").debug("warm-up failed", exc_info=True)


def main(flags: list[str]) -> None:
    from streamlit.web import cli

    warm()
    try:
        from journeylab.app import store, warmup

        warmup.start(store.store_uri())
    except Exception:  # the page reports store problems to the person
        logging.getLogger("journeylab.app").debug("warm-up not started", exc_info=True)
    sys.argv = ["streamlit", "run", str(APP_FILE), *flags]
    sys.exit(cli.main())


if __name__ == "__main__":
    main(sys.argv[1:])
