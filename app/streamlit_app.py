"""JourneyLab in the browser. `journeylab app` runs this file with Streamlit.

Eight pages, each a short script in app/views/ that only reads the store
(app/store.py) and calls library functions; nothing is trained or written
except on an explicit action (Generate samples in memory, for download).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from journeylab.app import store

PAGES_DIR = Path(__file__).parent / "views"
PAGES = [  # file, title, icon
    ("overview.py", "Overview", ":material/dashboard:"),
    ("runs.py", "Runs", ":material/table_chart:"),
    ("journeys.py", "Journeys", ":material/timeline:"),
    ("fidelity.py", "Fidelity", ":material/insights:"),
    ("privacy.py", "Privacy", ":material/shield:"),
    ("predictors.py", "Predictors", ":material/trending_up:"),
    ("generate.py", "Generate", ":material/auto_awesome:"),
    ("whatif.py", "What-if", ":material/science:"),
]

st.set_page_config(page_title="JourneyLab", page_icon=":material/route:", layout="wide")
nav = st.navigation(
    [
        st.Page(PAGES_DIR / f, title=t, icon=i, url_path=f.removesuffix(".py"), default=n == 0)
        for n, (f, t, i) in enumerate(PAGES)
    ]
)
with st.sidebar:
    st.caption(f"Store: `{store.store_uri()}`")
    if st.button(
        "Reload runs", help=f"Read the store again (new runs also appear within {store.TTL} s)"
    ):
        store.clear_caches()
        st.rerun()
nav.run()
