"""Support for the app tests and the app benchmark: a small real store, a clone of it
to damage, the real server, and a headless Chromium.

Everything goes through the `journeylab` CLI (in process) against real MLflow in
`<root>/mlruns/`: the simulator (60 customers) split into train and holdout, a
VAE (DP at epsilon 8 when the generator supports it) and a GAN fitted for one
epoch, a sample of each, a fidelity comparison, an audit, a predictor
evaluation and a TRTR/TSTR comparison, a cap and releases in the privacy
ledger, and one FAILED run.

    ids = seeded(root)                 # run ids by role; the store is root/mlruns
    with inside(root): ...             # cwd and MLFLOW_TRACKING_URI/JOURNEYLAB_LEDGER set
    with server(root) as url: ...      # `journeylab app` on a free loopback port
    with browser(downloads) as driver: ...   # Debian's chromium + chromedriver (Selenium)
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TINY = ["-c", "d_model=16", "-c", "n_layers=1", "-c", "batch_size=32", "--epochs", "1"]


def store_env(root: Path) -> dict[str, str]:
    return {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlruns' / 'mlflow.db'}",
        "JOURNEYLAB_LEDGER": str(root / "mlruns" / "privacy" / "ledger.jsonl"),
    }


@contextlib.contextmanager
def inside(root: Path):
    """cwd = root and the store variables set; both restored afterwards, and MLflow's
    global tracking URI too (`journeys.tracking.open_store` sets it, and its variable)."""
    from mlflow.tracking._tracking_service import utils as mlflow_utils

    old_cwd, old_env = Path.cwd(), {k: os.environ.get(k) for k in store_env(root)}
    old_uri = getattr(mlflow_utils, "_tracking_uri", None)
    os.chdir(root)
    os.environ.update(store_env(root))
    try:
        yield
    finally:
        os.chdir(old_cwd)
        mlflow_utils.set_tracking_uri(old_uri)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cli(*args: str) -> str:
    """Run `journeylab ARGS` in process; fail loudly with its output."""
    from typer.testing import CliRunner

    from journeylab.app.cli import app

    result = CliRunner().invoke(app, list(args))
    if result.exit_code != 0:
        raise RuntimeError(
            f"journeylab {' '.join(args)} failed ({result.exit_code}):\n"
            f"{result.output}\n{result.exception!r}"
        )
    return result.output


def run_id(output: str) -> str:
    import re

    found = re.findall(r"MLflow run ([0-9a-f]{32})", output.replace("\n", " "))
    if not found:
        raise RuntimeError(f"no run id in: {output}")
    return found[-1]


def seed_store(root: Path, *, customers: int = 60) -> dict[str, str]:
    """Fill `root/mlruns` (cwd must be `root`); returns the run ids by role."""
    from journeylab.generators.base import registry

    cli("datasets", "build", "simulate", "--out", "data", "--customers", str(customers))
    cli("split", "--data", "data/simulate/events.parquet", "--out", "data/split")
    train, hold = "data/split/train.parquet", "data/split/holdout.parquet"
    dp = ["--epsilon", "8"] if getattr(registry().get("vae"), "supports_dp", False) else []
    ids = {
        "vae": run_id(cli("fit", "--data", train, "--model", "vae", *TINY, *dp)),
        "gan": run_id(cli("fit", "--data", train, "--model", "gan", *TINY, "--epochs", "10")),
    }
    for name in ("vae", "gan"):  # 10 GAN epochs: enough for both label classes in TSTR
        cli("sample", "--run-id", ids[name], "-n", "60", "--out", f"data/syn_{name}.parquet")
    for name in ("vae", "gan"):
        ids[f"compare_{name}"] = run_id(
            cli("compare", hold, f"data/syn_{name}.parquet", "--reference", train)
        )
    ids["audit"] = run_id(
        cli(
            "audit",
            "--train",
            train,
            "--holdout",
            hold,
            "--synthetic",
            "data/syn_vae.parquet",
            "--max-targets",
            "20",
        )
    )
    ids["utility"] = run_id(
        cli(
            "predict",
            "utility",
            "--train",
            train,
            "--holdout",
            hold,
            "--synthetic",
            "data/syn_gan.parquet",
            "--model",
            "logreg",
            "--no-augmented",
        )
    )
    ids["report"] = run_id(
        cli(
            "evaluate",
            "--train",
            train,
            "--holdout",
            hold,
            "--synthetic",
            "data/syn_vae.parquet",
            "--models",
            "logreg",
            "--no-sdmetrics",
            "--out",
            "reports/vae",
        )
    )
    ids["evaluate"] = run_id(
        cli(
            "predict",
            "train",
            "--data",
            train,
            "--out",
            "models/logreg",
            "--model",
            "logreg",
            "--holdout",
            hold,
        )
    )
    _ledger(ids["vae"])
    ids["failed"] = _failed_run()
    return ids


def _ledger(vae_run: str) -> None:
    """The VAE's release (unless the fit recorded it), then a cap on its dataset.

    A non-private fit spends epsilon = inf: honest, and it exhausts the dataset."""
    from journeylab.journeys.tracking import TAG, open_store
    from journeylab.privacy.ledger import Ledger

    run = open_store().get_run(vae_run)
    fp = run.data.tags[f"{TAG}dataset_fingerprint"]
    led = Ledger()
    if not any(r.run_id == vae_run for r in led.entries()):
        eps = run.data.metrics.get("privacy.epsilon")
        delta = run.data.metrics.get("privacy.delta", 0.0)
        with led.reservation(
            fp,
            epsilon=8.0 if eps else float("inf"),
            delta=delta if eps else 0.0,
            mechanism="dp-sgd/vae" if eps else "none/vae",
            run_id=vae_run,
        ) as r:
            if eps:
                r.commit(epsilon=min(eps, 8.0), delta=delta)
    cli("privacy", "cap", "--dataset", fp, "--epsilon", "20")


def _failed_run() -> str:
    """A fit that raised: the store must show it FAILED with its error."""
    from journeylab.journeys.tracking import start_run

    holder = {}
    with contextlib.suppress(RuntimeError):
        with start_run(
            "fit",
            dataset="simulate",
            fingerprint="0" * 16,
            detail="vae-broken",
            tags={"generator": "vae", "epsilon": 1},
        ) as run:
            holder["id"] = run.info.run_id
            raise RuntimeError("out of memory (seeded failure)")
    return holder["id"]


def seeded(root: Path, **kw) -> dict[str, str]:
    """Seed with one thread per pool (torch, OpenMP, BLAS): the tests share two cores."""
    from threadpoolctl import threadpool_limits

    root.mkdir(parents=True, exist_ok=True)
    with inside(root), threadpool_limits(limits=1):
        return seed_store(root, **kw)


if __name__ == "__main__":  # build one by hand: python tests/app_support.py DIR
    import sys
    import time

    t0 = time.perf_counter()
    print(seeded(Path(sys.argv[1]).resolve()), f"{time.perf_counter() - t0:.1f}s")


# --- a clone to damage ----------------------------------------------------------------
def clone(root: Path, dest: Path) -> Path:
    """A full copy of the store whose runs point at the copied artefacts."""
    import shutil
    import sqlite3

    root, dest = root.resolve(), dest.resolve()
    shutil.copytree(root, dest)
    con = sqlite3.connect(dest / "mlruns" / "mlflow.db")
    with con:
        for table, col in (("runs", "artifact_uri"), ("experiments", "artifact_location")):
            con.execute(
                f"UPDATE {table} SET {col} = replace({col}, ?, ?)", (root.as_uri(), dest.as_uri())
            )
    con.close()
    return dest


# --- the real server --------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(root: Path, *, timeout: float = 90.0):
    """`journeylab app --store ROOT` on a free loopback port; stopped (by pid) at the end."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    log = open(root / f"server-{port}.log", "w")  # noqa: SIM115 (closed below)
    env = {k: v for k, v in os.environ.items() if k not in store_env(root)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "journeylab.app.cli",
            "app",
            "--port",
            str(port),
            "--store",
            str(root),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"`journeylab app` exited with {proc.returncode}:\n"
                    + (root / f"server-{port}.log").read_text()
                )
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"`journeylab app` did not answer on {url} in {timeout}s")
            time.sleep(0.3)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and children
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


# --- the browser -------------------------------------------------------------------------
# Debian's packages (apt-get install -y chromium chromium-driver); overridable.
CHROMIUM = os.environ.get("JOURNEYLAB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("JOURNEYLAB_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROME_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1800",
]
INSTALL = (
    "apt-get update && apt-get install -y chromium chromium-driver; "
    "pip install selenium (in the dev extras)"
)


def browser_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    import shutil

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    return f"missing {', '.join(missing)}; install with: {INSTALL}" if missing else None


@contextlib.contextmanager
def browser(downloads: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in CHROME_ARGS:
        opts.add_argument(a)
    opts.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        yield driver
    finally:
        driver.quit()


FOOTER = "· store "  # the last caption of every page (app/ui.py FOOTER)
PAGES = {
    "overview": "JourneyLab",
    "runs": "Runs",
    "journeys": "Journeys",
    "fidelity": "Fidelity",
    "privacy": "Privacy",
    "predictors": "Predictors",
    "generate": "Generate",
    "whatif": "What-if",
}
# Drawn: the page's title, its footer, nothing left over from the page before, and
# the script finished. One JavaScript call, so no element goes stale while it is read.
DRAWN_JS = """
const [title, footer] = arguments;
const h = document.querySelector('h1');
if (!h || !h.innerText.startsWith(title)) return false;
if (document.querySelector('[data-stale="true"]')) return false;
if (document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')) return false;
return [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
  .some(e => e.innerText.includes(footer));
"""


def wait_drawn(driver, page: str, timeout: float) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script(DRAWN_JS, PAGES[page], FOOTER)
    )


def visit(driver, url: str, page: str, *, timeout: float = 60.0) -> float:
    """Open a page's URL; wait until it is drawn; return the seconds it took."""
    import time

    t0 = time.perf_counter()
    driver.get(url if page == "overview" else f"{url}/{page}")
    wait_drawn(driver, page, timeout)
    return time.perf_counter() - t0


def navigate(driver, page: str, *, timeout: float = 60.0) -> float:
    """Go to a page by its sidebar link (no reload, as a person does); wait until it is
    drawn; return the seconds it took."""
    import time

    from selenium.webdriver.common.by import By

    href = f'a[href$="/{page}"]' if page != "overview" else 'a[href$="/"]'
    link = driver.find_element(By.CSS_SELECTOR, f'[data-testid="stSidebarNav"] {href}')
    t0 = time.perf_counter()
    link.click()
    wait_drawn(driver, page, timeout)
    return time.perf_counter() - t0


def page_problems(driver) -> list[str]:
    """Tracebacks (stException) shown on the page: there must be none."""
    from selenium.webdriver.common.by import By

    return [
        e.text[:500] for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    ]


def shared_store(base: Path) -> tuple[Path, dict[str, str]]:
    """One seeded store per test session (both app test modules use it)."""
    import json

    root = base / "app_store"
    done = root / "seeded.json"
    if not done.is_file():
        ids = seeded(root)
        done.write_text(json.dumps(ids))
    return root, json.loads(done.read_text())
