"""End to end in a real headless browser: `journeylab app` on loopback, Debian's
chromium driven by Selenium through Debian's chromedriver.

Visits every page (no traceback, the page drawn to its footer, a screenshot
each), generates 10 journeys on the Generate page and downloads them as CSV and
Parquet. Needs `apt-get install -y chromium chromium-driver`; without them the
test FAILS with that command, unless JOURNEYLAB_SKIP_BROWSER=1.
Screenshots go to $JOURNEYLAB_SCREENSHOTS if set, else to the test's tmp folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import app_support as support
import pandas as pd
import pytest

pytestmark = pytest.mark.browser
BROWSER_STORE = "browser_store"


@pytest.fixture(scope="module")
def driver_and_url(tmp_path_factory):
    if os.environ.get("JOURNEYLAB_SKIP_BROWSER") == "1":
        pytest.skip("JOURNEYLAB_SKIP_BROWSER=1")
    why = support.browser_missing()
    if why:
        pytest.fail(
            f"the browser test needs Chromium, chromedriver and Selenium: {why}. "
            "Set JOURNEYLAB_SKIP_BROWSER=1 to skip it.",
            pytrace=False,
        )
    shared, _ = support.shared_store(tmp_path_factory.getbasetemp())
    # a copy: the audit run from the Privacy page must not change the store other tests read
    root = support.clone(shared, tmp_path_factory.getbasetemp() / BROWSER_STORE)
    downloads = tmp_path_factory.mktemp("downloads")
    with support.server(root) as url, support.browser(downloads) as driver:
        yield driver, url, downloads


def shots_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("JOURNEYLAB_SCREENSHOTS") or tmp_path / "screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def wait_file(folder: Path, suffix: str, timeout: float = 30.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if p.stat().st_size > 0]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.2)
    raise AssertionError(
        f"no {suffix} download in {folder} after {timeout}s: {[p.name for p in folder.iterdir()]}"
    )


def test_every_page_renders_in_a_browser(driver_and_url, tmp_path):
    from selenium.webdriver.common.by import By

    driver, url, _ = driver_and_url
    shots = shots_dir(tmp_path)
    for page, title in support.PAGES.items():
        support.visit(driver, url, page)
        assert support.page_problems(driver) == [], page
        heading = driver.find_element(By.CSS_SELECTOR, "h1").text
        assert title in heading, (page, heading)
        time.sleep(0.7)  # tables and charts paint their canvases after the page is drawn
        assert driver.save_screenshot(str(shots / f"{page}.png"))
        assert (shots / f"{page}.png").stat().st_size > 10_000


SANKEY_NODES_JS = """
return [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.querySelector('.sankey'))
  .map(p => [...p.querySelectorAll('.sankey-node')].map(n => [
    n.querySelector('.node-label').textContent,
    parseFloat(n.getAttribute('transform').match(/translate\\(([-\\d.]+)/)[1])]));
"""


def test_tabs_draw_on_demand_and_sankey_ends_sit_in_their_step(driver_and_url):
    """Journeys draws a tab when it is opened: the Sankey of channel flows. Every node of
    step k, `k. end` included, is drawn in column k (Plotly's default pushed ends to the
    last column, where "2. end" read as an end after four events)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, url, _ = driver_and_url
    support.visit(driver, url, "journeys")
    driver.find_element(By.XPATH, "//*[@role='tab'][.//p[text()='Channel flows']]").click()
    panels = WebDriverWait(driver, 60, poll_frequency=0.1).until(
        lambda d: (p := d.execute_script(SANKEY_NODES_JS)) and len(p) == 2 and all(p) and p
    )
    assert support.page_problems(driver) == []
    ends = 0
    for nodes in panels:
        column = {}  # step -> the x of its nodes
        for label, x in nodes:
            column.setdefault(int(label.split(".")[0]), set()).add(round(x, 1))
            ends += label.endswith(". end")
        assert all(len(xs) == 1 for xs in column.values()), nodes  # one column per step
        xs = [column[k].pop() for k in sorted(column)]
        assert xs == sorted(xs) and len(set(xs)) == len(xs), nodes  # steps left to right
    assert ends, panels  # the seeded journeys do end within four steps


def test_segment_view_in_the_browser(driver_and_url, tmp_path):
    """Journeys' Segment tab: one segment's real customers next to synthetic journeys
    generated conditioned on it, each side with its figures and timelines."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, url, _ = driver_and_url
    support.visit(driver, url, "journeys")
    driver.find_element(By.XPATH, "//*[@role='tab'][.//p[text()='Segment']]").click()
    text = wait_text(driver, "writes the same ones", timeout=120)
    assert "Customers whose" in text and "journeylab sample --run-id" in text
    WebDriverWait(driver, 60, poll_frequency=0.2).until(
        lambda d: len([p for p in d.execute_script(PLOTS_JS) if "journeys" in p[0]]) == 2
    )
    assert text.count("Median length") == 4  # whole logs, then the segment, real and synthetic
    assert support.page_problems(driver) == []
    driver.save_screenshot(str(shots_dir(tmp_path) / "journeys-segment.png"))
    docs = os.environ.get("JOURNEYLAB_DOCS_SHOTS")  # `make screenshots`: the README shows it
    if docs:
        Path(docs).mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(Path(docs) / "journeys-segment.png"))


def test_runs_compare_two_generators_as_ratios(driver_and_url):
    """Runs: the two-generators preset draws each fit's scores as ratios to real data."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, url, _ = driver_and_url
    support.visit(driver, url, "runs")
    radio = WebDriverWait(driver, 60, poll_frequency=0.2).until(  # drawn after the table
        lambda d: d.find_element(
            By.XPATH, "//label[@data-testid='stRadioOption'][.//p[text()='Two generators']]"
        )
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", radio)
    radio.click()
    plots = WebDriverWait(driver, 60, poll_frequency=0.2).until(
        lambda d: [p for p in d.execute_script(PLOTS_JS) if "ratios to real data" in p[0]]
    )
    legend = plots[0][1]
    assert sorted(name.split("-")[1] for name in legend) == ["gan", "vae"], legend  # fit-gan-…
    assert "The newest measured fit of each" in page_text(driver)
    assert support.page_problems(driver) == []


def test_generate_and_download(driver_and_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver, url, downloads = driver_and_url
    support.visit(driver, url, "generate")
    wait = WebDriverWait(driver, 60, poll_frequency=0.1)
    try:
        count = wait.until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, 'input[aria-label="Journeys"]'))
        )
    except Exception as e:  # say what the page shows instead of a bare timeout
        page = driver.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"no 'Journeys' input; the page reads:\n{page[-3000:]}") from e
    count.send_keys(Keys.CONTROL, "a")
    count.send_keys("10", Keys.TAB)
    driver.find_element(By.XPATH, "//button[.//p[text()='Generate']]").click()
    for label, suffix in (("Download CSV", ".csv"), ("Download Parquet", ".parquet")):
        try:
            button = wait.until(
                ec.element_to_be_clickable((By.XPATH, f"//button[.//p[text()='{label}']]"))
            )
        except Exception as e:  # say what the page shows instead of a bare timeout
            page = driver.find_element(By.TAG_NAME, "body").text
            raise AssertionError(f"no '{label}' button; the page reads:\n{page[-3000:]}") from e
        button.click()
        path = wait_file(downloads, suffix)
        df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        assert df["customer_id"].nunique() == 10, (suffix, df.head())
    assert support.page_problems(driver) == []
    assert "Validity against the training data (train.parquet)" in page_text(driver)
    driver.save_screenshot(str(shots_dir(tmp_path) / "generate-sample.png"))


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def test_scorecard_lineage_and_validity_are_on_the_pages(driver_and_url):
    """What a person reads first: the verdicts in words on Overview and Fidelity, the fit
    the evaluated sample came from (its lineage tags), and Fidelity's validity figures."""
    from journeylab.evaluation.verdict import FIDELITY_LEVELS

    driver, url, _ = driver_and_url
    for page in ("overview", "fidelity"):
        support.visit(driver, url, page)
        text = page_text(driver)
        assert any(words in text for _, words in FIDELITY_LEVELS), (page, text[:2000])
        assert "Detection AUC:" in text and "fit run unknown" not in text, page
        assert "· vae · ε=" in text, (page, text[:2000])  # the sample of the DP VAE
    assert "Validity of" in text  # Fidelity's explored pair
    assert support.page_problems(driver) == []


# --- the Privacy page's trade-off, calculator and audits ----------------------------------
PLOTS_JS = """
return [...document.querySelectorAll('.js-plotly-plot')].map(p => [
  (p.querySelector('.gtitle') || {}).textContent || '',
  [...p.querySelectorAll('.legendtext')].map(e => e.textContent)]);
"""


def wait_text(driver, text: str, timeout: float = 60.0) -> str:
    """The page's text once it contains `text` (else an error that shows the page)."""
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: text in page_text(d))
    except Exception as e:
        raise AssertionError(f"no {text!r}; the page reads:\n{page_text(driver)[-3000:]}") from e
    return page_text(driver)


def test_privacy_tradeoff_chart_is_drawn(driver_and_url):
    from selenium.webdriver.support.ui import WebDriverWait

    driver, url, _ = driver_and_url
    support.visit(driver, url, "privacy")
    plots = WebDriverWait(driver, 60, poll_frequency=0.2).until(
        lambda d: [p for p in d.execute_script(PLOTS_JS) if "trade-off" in p[0]]
    )
    title, legend = plots[0]
    assert title.startswith("Privacy-utility trade-off · vae on simulate"), title
    assert {"DP fits", "no DP (gan)", "real data (ideal)", "cap ε=20"} <= set(legend), legend
    assert "Journey length distance ratio" in page_text(driver)
    assert support.page_problems(driver) == []


def fill(driver, label: str, value) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        box = WebDriverWait(driver, 30, poll_frequency=0.2).until(
            lambda d: d.find_element(By.CSS_SELECTOR, f'input[aria-label="{label}"]')
        )
    except Exception as e:  # say what the page shows instead of a bare timeout
        raise AssertionError(f"no input {label!r}; the page reads:\n{page_text(driver)}") from e
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.TAB)


def metric_value(driver, label: str) -> str:
    from selenium.webdriver.common.by import By

    for m in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
        if m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text == label:
            return m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text
    raise AssertionError(f"no metric {label!r}")


def test_privacy_calculator_answers_as_the_accountant(driver_and_url):
    from selenium.webdriver.common.by import By

    from journeylab.privacy.accountant import epsilon_from

    driver, url, _ = driver_and_url
    support.visit(driver, url, "privacy")
    fill(driver, "Customers in the training data", 2000)
    fill(driver, "Expected batch size", 100)
    fill(driver, "Epochs", 5)
    fill(driver, "Noise multiplier σ", 0.9)
    driver.find_element(By.XPATH, "//button[.//p[text()='Calculate']]").click()
    wait_text(driver, "steps at sampling rate q = 0.05")
    direct = epsilon_from(sample_rate=0.05, noise_multiplier=0.9, steps=100, delta=1e-5)
    assert metric_value(driver, "ε (RDP accountant)") == f"{direct:.4g}"
    assert "100 steps" in page_text(driver)
    assert support.page_problems(driver) == []


def test_privacy_audit_runs_from_the_page(driver_and_url, tmp_path_factory):
    import re

    import mlflow
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from journeylab.journeys.tracking import TAG

    driver, url, _ = driver_and_url
    support.visit(driver, url, "privacy")
    go = (By.XPATH, "//button[.//p[text()='Run the membership-inference and DCR audits']]")
    # the page draws its sections one by one: on busy cores the button comes last
    button = WebDriverWait(driver, 90, poll_frequency=0.2).until(ec.presence_of_element_located(go))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    text = wait_text(driver, "Audit of this sample (MLflow run ", timeout=120)
    run_id = re.search(r"Audit of this sample \(MLflow run ([0-9a-f]{32})\)", text).group(1)
    assert f"Audit logged to MLflow run {run_id}" in text  # its steps, folded
    assert support.page_problems(driver) == []
    root = tmp_path_factory.getbasetemp() / BROWSER_STORE
    run = mlflow.MlflowClient(support.store_env(root)["MLFLOW_TRACKING_URI"]).get_run(run_id)
    assert run.data.tags[f"{TAG}kind"] == "audit"
    logged = run.data.metrics
    assert metric_value(driver, "DCR share") == f"{logged['dcr_share']:.3f}"
    assert metric_value(driver, "Membership inference AUC") == f"{logged['mia_distance_auc']:.3f}"


# --- screenshots for the README ---------------------------------------------------------------
DOCS_PAGES = ("overview", "privacy", "journeys")
HEIGHT_JS = """
const main = document.querySelector('[data-testid="stMain"]') || document.body;
return Math.max(main.scrollHeight, document.body.scrollHeight);
"""


def test_screenshots_for_the_readme(driver_and_url, tmp_path):
    """Whole-page screenshots of Overview, Privacy and Journeys: into $JOURNEYLAB_DOCS_SHOTS
    (`make screenshots` sets docs/screenshots, the README shows them), else tmp."""
    driver, url, _ = driver_and_url
    folder = Path(os.environ.get("JOURNEYLAB_DOCS_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    width, height = driver.get_window_size().values()
    try:
        for page in DOCS_PAGES:
            support.visit(driver, url, page)
            time.sleep(1.0)  # charts and tables paint after the page is drawn
            driver.set_window_size(1400, min(driver.execute_script(HEIGHT_JS) + 120, 6000))
            time.sleep(1.0)
            assert support.page_problems(driver) == [], page
            assert driver.save_screenshot(str(folder / f"{page}.png"))
            assert (folder / f"{page}.png").stat().st_size > 30_000, page
            driver.set_window_size(width, height)
    finally:
        driver.set_window_size(width, height)


def test_whatif_runs_a_tiny_scenario(driver_and_url, tmp_path):
    """What-if: 20 simulator customers, the default intervention (an inserted event), run
    from the page; the effect table shows each outcome with its interval."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver, url, _ = driver_and_url
    support.visit(driver, url, "whatif")
    wait = WebDriverWait(driver, 120, poll_frequency=0.2)
    count = wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, 'input[aria-label="Customers"]'))
    )
    count.send_keys(Keys.CONTROL, "a")
    count.send_keys("20", Keys.TAB)
    time.sleep(1.0)  # the rerun that takes the new count
    support.wait_drawn(driver, "whatif", 60)
    driver.find_element(By.XPATH, "//button[.//p[text()='Run scenario']]").click()
    try:
        table = wait.until(
            ec.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="stTable"] table'))
        )
    except Exception as e:  # say what the page shows instead of a bare timeout
        raise AssertionError(
            f"no effect table; the page reads:\n{page_text(driver)[-3000:]}"
        ) from e
    text = table.text
    for word in ("purchase_within", "lapsed", "spend", "purchases", "ci_low", "ci_high"):
        assert word in text, (word, text)
    # the sections below the table draw after it: wait for them (a busy machine is slow)
    assert "customers in both arms" in wait_text(driver, "customers in both arms")
    assert "extrapolation" in wait_text(driver, "extrapolation")
    assert support.page_problems(driver) == []
    driver.save_screenshot(str(shots_dir(tmp_path) / "whatif-answer.png"))
