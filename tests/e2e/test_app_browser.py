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
    root, _ = support.shared_store(tmp_path_factory.getbasetemp())
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


def test_tabs_draw_on_demand(driver_and_url):
    """Journeys draws a tab when it is opened: the Sankey of channel flows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, url, _ = driver_and_url
    support.visit(driver, url, "journeys")
    driver.find_element(By.XPATH, "//*[@role='tab'][.//p[text()='Channel flows']]").click()
    WebDriverWait(driver, 60, poll_frequency=0.1).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .sankey")
    )
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
    assert "customers in both arms" in page_text(driver)
    assert "extrapolation" in page_text(driver)
    assert support.page_problems(driver) == []
    driver.save_screenshot(str(shots_dir(tmp_path) / "whatif-answer.png"))
