"""A real browser for the screens' tests and benchmarks: Debian's chromium, headless, driven by Selenium
through Debian's chromium-driver given by path (so Selenium downloads nothing)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REPO = Path(__file__).resolve().parent.parent
# Screenshots of every screen: test artefacts, never committed (conformance/.work is ignored).
SCREENSHOTS = Path(os.environ.get("LOUPE_SCREENSHOTS", REPO / "conformance" / ".work" / "screens"))


def chromium(width: int = 1400, height: int = 1000) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}",
                     "--no-proxy-server", "--disable-extensions", "--mute-audio", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def wait_for(condition, timeout: float = 20.0, interval: float = 0.05, what: str = "the condition"):
    """Polls `condition()` until it returns something truthy (returned); raises after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except WebDriverException as error:   # an element replaced while read: try again
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"{what} did not happen within {timeout} s" + (f" ({last_error})" if last_error else ""))


def open_page(driver, url: str) -> None:
    """driver.get, once more if chromedriver loses the renderer's answer (it says "Timed out receiving
    message from renderer" now and then while the previous page is still busy)."""
    try:
        driver.get(url)
    except TimeoutException:
        driver.get(url)


def log_in(driver, base: str, user: str, password: str, path: str = "/") -> None:
    """Opens `path`, is sent to the login form, signs in and lands on `path` again."""
    open_page(driver, base + path)
    wait_for(lambda: "/login" in driver.current_url, what="the redirect to the login page")
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    wait_for(lambda: "/login" not in driver.current_url and driver.execute_script("return document.readyState") == "complete",
             what=f"signing in as {user}")


def log_out(driver) -> None:
    """Leaves the current page (its streams and requests end) and forgets every cookie (WebDriver's own
    call forgets only the current page's)."""
    open_page(driver, "about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})


def texts(driver, selector: str) -> list:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, selector)]


def canvas_pixels(driver, selector: str = "#image") -> dict:
    """What a canvas shows: mean and spread of its grey values, and a checksum of its pixels."""
    return driver.execute_script("""
        const canvas = document.querySelector(arguments[0]);
        if (!canvas || !canvas.width) return null;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let sum = 0, squares = 0, checksum = 0;
        for (let i = 0; i < data.length; i += 4) {
            const v = data[i];
            sum += v; squares += v * v; checksum = (checksum * 31 + v + data[i + 1] * 7) >>> 0;
        }
        const n = data.length / 4, mean = sum / n;
        return {mean, spread: Math.sqrt(Math.max(0, squares / n - mean * mean)), checksum};
    """, selector)


def screenshot(driver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def console_errors(driver) -> list:
    """Errors the pages logged (a failed script, a CSP refusal), ignoring expected HTTP refusals."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]]
