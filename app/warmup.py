"""Fill the caches that the first view of each page reads, once per server, in the
background after the server is up (`journeylab app`, app/server.py).

Cold, the first visit of Journeys or Fidelity reads and validates the default real and
synthetic logs and computes their statistics (2 to 4 s on two busy cores); warm, the
same page is drawn in about a second. The warm-up calls the very cached functions the
pages call, with the pages' defaults (the first real and the first synthetic log of
the store, as `ui.pick_logs` picks them), so what it computes is what they read.
Streamlit's caches lock per key: a page opened while the warm-up computes the same
value waits for it instead of computing it twice. Nothing here is shown to anyone; a
failure is left for the page to report.
"""

from __future__ import annotations

import logging
import threading
import time

from journeylab.app import derived, event_logs, store

log = logging.getLogger("journeylab.app")


def default_pair(uri: str, df) -> tuple[derived.Loaded | None, derived.Loaded | None]:
    """The real and synthetic logs the Journeys and Fidelity pages open with."""
    srcs = event_logs.sources(df, uri)
    out = []
    for role in ("real", "synthetic"):
        first = next((s for s in srcs if s.role == role), None)
        out.append(event_logs.loaded(first, df, uri) if first is not None else None)
    return out[0], out[1]


def warm_store(uri: str) -> dict[str, float]:
    """Compute what the pages' first views read; returns seconds per step."""
    took: dict[str, float] = {}
    t0 = time.perf_counter()

    def step(name: str) -> None:
        nonlocal t0
        took[name] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()

    if not store.probe(uri).ok:
        return took
    df = store.runs(uri)
    event_logs.ledger(uri)
    step("runs and ledger")
    real, synth = default_pair(uri, df)
    step("read the default logs")
    for x in filter(None, (real, synth)):
        derived.summary(x)  # Journeys' figures (journey lengths)
    derived.timeline_panels((real, synth), 0, derived.SHOWN)  # its first tab, as the sliders start
    step("journeys figures and timelines")
    if real is not None and synth is not None:
        derived.validity(real, synth)  # Fidelity's validity
        derived.values(real, "length")
        derived.values(synth, "length")
    step("fidelity figures")
    return took


def start(uri: str) -> threading.Thread:
    """`warm_store` in a daemon thread; its timings go to the server log."""

    def run() -> None:
        try:
            took = warm_store(uri)
            log.info("warm-up of %s done: %s", uri, took)
        except Exception:  # the page reports store problems to the person
            log.debug("warm-up failed", exc_info=True)

    thread = threading.Thread(target=run, name="journeylab-warmup", daemon=True)
    thread.start()
    return thread
