"""Debian's headless Chromium, driven through its chromedriver, for the status page.

    with Browser(tmp_path) as browser:
        browser.open("http://127.0.0.1:9953/")
        browser.text("#headline")                  # what a person reads
        browser.screenshot("down")                 # kept in test-artifacts/status-page/

Nothing is downloaded: the browser and driver are Debian's (packages chromium and
chromium-driver), and background networking is off, so the only traffic is to the page.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "status-page"
PHONE = (390, 844)  # a common phone's viewport, in CSS pixels
DESKTOP = (1280, 900)
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def _find(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        f"{names[0]} is not installed (Debian packages chromium and chromium-driver); "
        "scripts/test installs them",
        pytrace=False,
    )


class Browser:
    """One headless Chromium session with a phone-sized window."""

    def __init__(self, workdir: Path, size: tuple[int, int] = PHONE) -> None:
        os.environ.setdefault("SE_OFFLINE", "true")  # selenium must never fetch a driver
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = _find("chromium", "chromium-browser")
        for flag in [*FLAGS, f"--user-data-dir={workdir / 'chromium-profile'}",
                     f"--window-size={size[0]},{size[1]}"]:  # fmt: skip
            options.add_argument(flag)
        service = Service(_find("chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def resize(self, size: tuple[int, int]) -> None:
        """Make the viewport ``size`` CSS pixels (a phone's, a desktop's)."""
        self.driver.set_window_size(*size)
        inner = self.script("return [window.innerWidth, window.innerHeight]")
        # Headless windows may count a frame: grow the window until the viewport fits.
        self.driver.set_window_size(2 * size[0] - inner[0], 2 * size[1] - inner[1])

    def on_first_screen(self, selector: str) -> bool:
        """Whether the element lies wholly within the viewport without scrolling."""
        return bool(
            self.script(
                "const e = document.querySelector(arguments[0]);"
                "if (!e) return false; const r = e.getBoundingClientRect();"
                "return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0;",
                selector,
            )
        )

    def text(self, selector: str) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.CSS_SELECTOR, selector).text)

    def all_text(self, selector: str) -> list[str]:
        from selenium.webdriver.common.by import By

        return [str(e.text) for e in self.driver.find_elements(By.CSS_SELECTOR, selector)]

    def exists(self, selector: str) -> bool:
        from selenium.webdriver.common.by import By

        return bool(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def script(self, code: str, *args: Any) -> Any:
        """Ask the browser about the page it rendered (the page itself runs no script)."""
        return self.driver.execute_script(code, *args)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def close(self) -> None:
        self.driver.quit()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()
