"""A real browser for the tests: Debian's Chromium, driven by Selenium through Debian's chromedriver.

Both come from the system (`make test` installs the packages `chromium` and `chromium-driver`
as root), never downloaded: Selenium is given their paths, so it looks for nothing else.
Chromium's fake microphone plays a WAV file, so a page hears real speech.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "chromium"
CHROMEDRIVER = "chromedriver"
WINDOW = (1100, 1300)


def chromium(microphone_wav: Path) -> WebDriver:
    """Headless Chromium whose microphone plays `microphone_wav` once each time it is opened,
    allowed without asking, and whose pages may play sound without a click first."""
    binary, driver = shutil.which(CHROMIUM), shutil.which(CHROMEDRIVER)
    if not binary or not driver:
        raise RuntimeError(
            "the browser tests need Chromium: apt-get install chromium chromium-driver (`make test` does)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root, in a container
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--use-fake-ui-for-media-stream",  # grant the microphone without a prompt
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(argument)
    # The page's console, read back by console_errors().
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver))


def console_errors(browser: WebDriver, *, failed_requests: bool = False) -> list[str]:
    """The console's errors since the last call. A request answered 4xx is logged as an error by
    Chromium itself; with failed_requests=False those are left out (the page shows them)."""
    errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    if failed_requests:
        return errors
    return [message for message in errors if "Failed to load resource: the server responded" not in message]


def keep_evidence(browser: WebDriver, folder: Path, panels: tuple[str, ...]) -> None:
    """A screenshot of the window and of each panel, and the console, for a failed test."""
    folder.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(folder / "window.png"))
    for panel in panels:
        elements = browser.find_elements(By.ID, panel)
        if elements:
            elements[0].screenshot(str(folder / f"{panel}.png"))
    console = "\n".join(f"{entry['level']} {entry['message']}" for entry in browser.get_log("browser"))
    (folder / "console.txt").write_text(console + "\n")


def full_page_screenshot(browser: WebDriver, path: Path) -> None:
    """The page's content, whole: the window is made as tall as the content for the shot."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WINDOW[0], max(WINDOW[1], height + 200))
    path.parent.mkdir(parents=True, exist_ok=True)
    browser.find_element(By.TAG_NAME, "body").screenshot(str(path))
    browser.set_window_size(*WINDOW)
