"""The viewer in a real browser: headless Chromium (the Debian packages chromium and chromium-driver)
driven by selenium against ``semcom demo``. Frames advance, the latency numbers update, a scheme
switch made on the page reaches the received frames, and a bad request shows its error and changes
nothing. Skipped where no browser is installed; CI installs one.

``SEMCOM_SCREENSHOT=docs/viewer.png`` keeps a screenshot of the page (the README's)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from shared.launcher import free_ports
from tests.conftest import wait_for

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="no chromium and chromedriver installed")
DIGITAL = ["--scheme", "digital", "--size", "64", "--param", "cbr=0.25", "--param", "link.modulation=qpsk",
           "--param", "link.code_rate=0.5", "--param", "link.ldpc_k=1024"]


@pytest.fixture
def demo():
    """``semcom demo`` streaming until stopped, with its viewer on a free port; -> the viewer's URL."""
    port = free_ports(1)[0]
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "demo", *DIGITAL, "--frames", "0", "--fps", "5",
                             "--viewer", f"127.0.0.1:{port}", "--no-standby"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    url = f"http://127.0.0.1:{port}/"

    def streaming() -> bool:
        assert proc.poll() is None, "".join(err)[-2000:]
        try:
            return json.loads(urllib.request.urlopen(url + "api/status", timeout=2).read())["frames_published"] > 0
        except OSError:
            return False

    try:
        assert wait_for(streaming, 120), "".join(err)[-2000:]
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _text(driver, selector: str) -> str:
    """The text of the first element ``selector`` matches, read at once (the page redraws its tables twice a second)."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", selector)


def test_the_page_shows_the_stream_live_and_switches_its_scheme(demo, browser):
    browser.get(demo)
    assert wait_for(lambda: _text(browser, "#seq").isdigit(), 30)
    first = int(_text(browser, "#seq"))
    assert wait_for(lambda: _text(browser, "#seq").isdigit() and int(_text(browser, "#seq")) >= first + 5, 30)  # frames advance
    picture = browser.find_element(By.ID, "picture")
    assert wait_for(lambda: picture.get_property("naturalWidth") == 128, 15)  # the MJPEG: original | reconstruction
    cell = "td.p50[data-link='end_to_end']"
    assert wait_for(lambda: _text(browser, cell) not in ("", "-"), 30)
    seen = {_text(browser, cell)}
    assert wait_for(lambda: seen.add(_text(browser, cell)) or len(seen) >= 3, 30)  # the latency numbers update
    assert _text(browser, "#sent").isdigit() and int(_text(browser, "#lost")) <= 2  # counted from the frames' seq

    # a bad request: its reason on the page, and the stream goes on unchanged
    browser.find_element(By.ID, "snr").send_keys("500")
    browser.find_element(By.ID, "apply").click()
    result = browser.find_element(By.ID, "control-result")
    assert wait_for(lambda: "less than or equal to 60" in _text(browser, "#control-result"), 10)
    assert "error" in result.get_attribute("class") and _text(browser, "#current-scheme") == "digital"
    browser.find_element(By.ID, "snr").clear()

    # the switch, from the page
    Select(browser.find_element(By.ID, "scheme")).select_by_value("deepjscc")
    browser.find_element(By.ID, "cbr").send_keys(str(1 / 96))
    clicked_at_seq = json.loads(urllib.request.urlopen(demo + "api/status", timeout=5).read())["stream"]["seq"]
    browser.find_element(By.ID, "apply").click()
    switched_at = time.monotonic()
    assert wait_for(lambda: _text(browser, "#current-scheme") == "deepjscc", 60), _text(browser, "#control-result")
    assert wait_for(lambda: "applied" in _text(browser, "#control-result"), 10)
    assert "error" not in result.get_attribute("class")
    status = json.loads(urllib.request.urlopen(demo + "api/status", timeout=5).read())
    assert status["stream"]["scheme"] == "deepjscc"  # the received frames' headers say so
    record = status["controls"][-1]
    assert record["applied"] and record["scheme"] == "deepjscc"
    # within a few frames of the newest one the receiver had at the click (the page itself may lag it on a busy machine)
    assert record["before_seq"] <= clicked_at_seq + 5
    print(f"switch seen on the page {time.monotonic() - switched_at:.1f} s after the click, "
          f"before frame {record['before_seq']}")
    if os.environ.get("SEMCOM_SCREENSHOT"):
        time.sleep(12)  # the chart fills past the switch
        Path(os.environ["SEMCOM_SCREENSHOT"]).parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(os.environ["SEMCOM_SCREENSHOT"])
