"""Time to first render of each page of the app, in a real headless browser.

    python bench/bench_app.py                 # the demo store ./mlruns if it has runs,
                                              # else a small seeded one (tests/app_support.py)
    python bench/bench_app.py --store DIR     # any project folder holding mlruns/

Starts `journeylab app` on a free loopback port, opens Debian's chromium
(Selenium + chromedriver) and, for every page, times until the page is drawn
to its footer: first opening the page's URL (a full page load, the page's
caches cold), then moving to it with the sidebar (as a person does), then
once more. Target: at most 2 s for each page's first render.
Writes bench/results/app_render.json and a screenshot per page under
bench/results/screenshots/, and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import app_support as support  # noqa: E402

TARGET_S = 2.0


def has_runs(root: Path) -> bool:
    db = root / "mlruns" / "mlflow.db"
    if not db.is_file():
        return False
    import sqlite3

    with sqlite3.connect(db) as con:
        return bool(
            con.execute(
                "SELECT count(*) FROM experiments WHERE name LIKE 'journeylab/%'"
            ).fetchone()[0]
        )


def pick_store(arg: str | None, tmp: Path) -> tuple[Path, str]:
    if arg:
        return Path(arg).resolve(), f"given store {arg}"
    if has_runs(Path.cwd()):
        return Path.cwd(), "the demo store ./mlruns"
    t0 = time.perf_counter()
    support.seeded(tmp / "store")
    return tmp / "store", (
        f"a seeded store (tests/app_support.py, built in "
        f"{time.perf_counter() - t0:.0f} s): no demo store in ./mlruns"
    )


def measure(url: str, driver, shots: Path) -> dict[str, dict[str, float]]:
    """Per page: `load` (open its URL: a full page load, the page's caches cold),
    `navigate` (its sidebar link, as a person moves between pages), `repeat` (again)."""
    out: dict[str, dict[str, float]] = {p: {} for p in support.PAGES}
    for page in support.PAGES:
        out[page]["load"] = support.visit(driver, url, page, timeout=120)
        if support.page_problems(driver):
            raise RuntimeError(f"page {page} shows a traceback")
        time.sleep(0.7)  # let tables and charts paint before the screenshot
        driver.save_screenshot(str(shots / f"{page}.png"))
    for rnd in ("navigate", "repeat"):
        support.visit(driver, url, "overview")
        for page in list(support.PAGES)[1:] + ["overview"]:
            out[page][rnd] = support.navigate(driver, page, timeout=120)
    return out


def table(times: dict[str, dict[str, float]]) -> str:
    lines = [
        "| page | first load, URL (s) | sidebar navigation (s) | again (s) | target <= 2 s |",
        "|---|---|---|---|---|",
    ]
    for page, t in times.items():
        ok = "met" if max(t["load"], t["navigate"]) <= TARGET_S else "missed"
        lines.append(
            f"| {page} | {t['load']:.2f} | {t['navigate']:.2f} | {t['repeat']:.2f} | {ok} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="project folder holding mlruns/ (default: see above)")
    ap.add_argument("--out", default=str(HERE / "results"), help="results folder")
    args = ap.parse_args(argv)
    why = support.browser_missing()
    if why:
        print(f"cannot run the app benchmark: {why}", file=sys.stderr)
        return 2
    out = Path(args.out)
    shots = out / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root, what = pick_store(args.store, Path(tmp))
        t0 = time.perf_counter()
        with support.server(root) as url:
            start_s = time.perf_counter() - t0
            with support.browser(Path(tmp)) as driver:
                times = measure(url, driver, shots)
    result = {
        "store": what,
        "server_start_s": round(start_s, 2),
        "target_s": TARGET_S,
        "pages": {p: {k: round(v, 3) for k, v in t.items()} for p, t in times.items()},
        "machine": f"{platform.machine()}, {platform.python_version()}, "
        f"{__import__('os').cpu_count()} CPUs",
        "command": "python bench/bench_app.py" + (f" --store {args.store}" if args.store else ""),
    }
    (out / "app_render.json").write_text(json.dumps(result, indent=2))
    print(f"Store: {what}. Server up in {start_s:.1f} s.\n")
    print(table(times))
    print(f"\nScreenshots: {shots}; figures: {out / 'app_render.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
