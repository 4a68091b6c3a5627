"""Shared page furniture: the store check, the error guard, labels, caveats.

Every page is `ui.page(title, body)`: the title first, then `body(uri, runs)`
only when the store can be read; a missing, empty, unreadable or newer store
shows its message instead. Any error inside a page becomes a message on the
page (a `UserError` verbatim; anything else named, with the traceback in the
server log only), so people never see a traceback. Every page ends with the
footer caption "JourneyLab <version> · store <uri>" once it is drawn (the
browser test and the benchmark wait for it).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import pandas as pd
import streamlit as st

from journeylab.app import store
from journeylab.journeys import __version__
from journeylab.journeys.errors import UserError

log = logging.getLogger("journeylab.app")

REAL_DATA_CAVEAT = (
    "Computed on real data: these numbers are not covered by the "
    "differential-privacy guarantee and are not themselves private."
)
FOOTER = "JourneyLab {version} · store {uri}"


def page(
    title: str,
    body: Callable[[str, pd.DataFrame], None],
    *,
    intro: str = "",
    always: Callable[[], None] | None = None,
) -> None:
    """The title, then `body` over the store's runs, then `always` (a part that needs no
    store, such as a calculator, drawn also where the store is missing or empty)."""
    st.title(title)
    if intro:
        st.caption(intro)
    uri = store.store_uri()
    guard(lambda: _with_store(uri, body))
    if always is not None:
        guard(always)
    st.caption(FOOTER.format(version=__version__, uri=uri), help="page drawn")


def _with_store(uri: str, body: Callable[[str, pd.DataFrame], None]) -> None:
    probe = store.probe(uri)
    if not probe.ok:
        shown = st.info if probe.state in ("missing", "empty") else st.error
        shown(probe.message)
        return
    df = store.runs(uri)
    newer = store.newer_versions(df)
    if newer:
        st.warning(
            f"This store holds runs written by JourneyLab {', '.join(newer)}, newer "
            f"than this app ({__version__}); what they logged may not all show here. "
            "Upgrade JourneyLab to see everything."
        )
    body(uri, df)


def guard(body: Callable[[], None]) -> None:
    """Run `body`; show any error as a message on the page, never as a traceback."""
    try:
        body()
    except UserError as e:
        st.error(str(e))
    except Exception as e:  # the page must stay up whatever a library raises
        log.exception("page error")
        st.error(
            f"This part of the page could not be shown ({type(e).__name__}: "
            f"{str(e)[:500]}). The store may hold data this version does not "
            "understand; the server log has the details."
        )


def lazy_tabs(parts: dict[str, Callable[[], None]], *, key: str) -> None:
    """Tabs that draw only the open one (Streamlit reruns when another is picked)."""
    tabs = st.tabs(list(parts), key=key, on_change="rerun")
    for tab, draw in zip(tabs, parts.values(), strict=True):
        if tab.open:
            with tab:
                guard(draw)


def eps_label(x) -> str:
    """ε as people read it: three significant figures (7.99994 -> ε=8), "no DP" for inf."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "unknown"
    return "no DP" if math.isinf(float(x)) else f"ε={float(x):.3g}"


def lineage_label(run: pd.Series) -> str:
    """Where a run's synthetic log came from, in one line (its lineage tags)."""
    fit = run.get("fit_run_id")
    origin = f"fit run {fit[:8]}" if isinstance(fit, str) and fit else "fit run unknown"
    generator = run.generator if isinstance(run.generator, str) else "generator unknown"
    return f"{run.dataset} · {generator} · {eps_label(run.epsilon)} · {origin}"


def run_labels(df: pd.DataFrame) -> dict[str, str]:
    """run_id -> a readable label for select boxes."""
    return {r.run_id: f"{r['name']} · {r.run_id[:8]}" for _, r in df.iterrows()}


def pick_run(label: str, df: pd.DataFrame, *, key: str, help: str | None = None) -> pd.Series:
    """A select box over runs (newest first); returns the chosen run's row."""
    labels = run_labels(df)
    rid = st.selectbox(label, list(labels), format_func=labels.get, key=key, help=help)
    return df[df.run_id == rid].iloc[0] if rid else None


def finished(df: pd.DataFrame, *kinds: str) -> pd.DataFrame:
    if df.empty:
        return df
    out = df[df.status == "FINISHED"]
    return out[out.kind.isin(kinds)] if kinds else out


def run_table(df: pd.DataFrame, extra: list[str] | None = None) -> pd.DataFrame:
    """The columns people read first, ε as text, and the fit each run comes from
    (its lineage: a sample, comparison or audit of a fit shows that fit's generator)."""
    cols = ["start", "name", "kind", "dataset", "generator", "epsilon", "status"]
    out = df[cols + [c for c in (extra or []) if c in df]].copy()
    out["epsilon"] = out["epsilon"].map(eps_label)
    own = df.generator.isna() & df.epsilon.isna()  # not made by a generator (real data)
    out.loc[own, ["generator", "epsilon"]] = "–"
    out["start"] = out["start"].dt.strftime("%Y-%m-%d %H:%M:%S")
    out.insert(6, "fit run", df["fit_run_id"].map(lambda x: x[:8] if isinstance(x, str) else ""))
    return out


# --- event logs -----------------------------------------------------------------
GENERATED = "journeylab_generated"  # session key: the last sample of the Generate page


def pick_logs(uri: str, df: pd.DataFrame, *, key: str):
    """Two select boxes (real, synthetic) -> (Loaded, Loaded); None where there is none."""
    from journeylab.app import event_logs

    srcs = event_logs.sources(df, uri)
    real = [s for s in srcs if s.role == "real"]
    synth: list = [s for s in srcs if s.role == "synthetic"]
    generated = st.session_state.get(GENERATED)
    if generated is not None:
        synth.insert(0, generated["label"])
    left, right = st.columns(2)
    out = []
    for col, options, role in ((left, real, "Real log"), (right, synth, "Synthetic log")):
        with col:
            if not options:
                st.info(f"No {role.lower()} found: {_absent(role)}")
                out.append(None)
                continue
            choice = st.selectbox(
                role,
                options,
                key=f"{key}_{role}",
                format_func=lambda s: s if isinstance(s, str) else s.label,
            )
            out.append(_load(choice, generated, uri, df))
    return tuple(out)


def _load(choice, generated, uri: str, df: pd.DataFrame):
    from journeylab.app import event_logs
    from journeylab.app.derived import Loaded

    if isinstance(choice, str):
        return Loaded(f"generated:{generated['id']}", choice, generated["log"])
    result = []
    guard(lambda: result.append(event_logs.loaded(choice, df, uri)))
    return result[0] if result else None


def _absent(role: str) -> str:
    if role == "Real log":
        return (
            "the runs name no real log file that still exists. Build one with "
            "`journeylab datasets build simulate` and fit a generator on it."
        )
    return (
        "no sample file from `journeylab sample` still exists; generate one on the Generate page."
    )
