"""The server process of `journeylab app`: Streamlit, with the heavy imports started early.

`python -m app.server [streamlit flags]` runs `streamlit run app/streamlit_app.py`
through Streamlit's own command-line entry, after starting a thread that
imports what every page needs (MLflow, Plotly, the store) and opens the
MLflow store, so the first page a person opens does not wait for them.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

APP_FILE = Path(__file__).with_name("streamlit_app.py")


def warm() -> None:
    """Import and open what the first page needs; any failure is left to the page."""
    try:
        import mlflow
        import plotly.express  # noqa: F401

        from app import charts, logs, results, store, ui  # noqa: F401

        uri = store.store_uri()
        db = store.sqlite_file(uri)
        if db is None or db.is_file():
            mlflow.MlflowClient(uri).search_experiments(max_results=1)
    except Exception:  # the page reports store problems to the person
        logging.getLogger("journeylab.app").debug("warm-up failed", exc_info=True)


def main(flags: list[str]) -> None:
    from streamlit.web import cli

    threading.Thread(target=warm, name="journeylab-warm", daemon=True).start()
    sys.argv = ["streamlit", "run", str(APP_FILE), *flags]
    sys.exit(cli.main())


if __name__ == "__main__":
    main(sys.argv[1:])
