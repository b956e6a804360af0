"""What the browser tests share: where Chromium is, how it is started, and a page on Django's live server.

`browser_page()` opens one headless Chromium page (Debian's /usr/bin/chromium, driven by Playwright) at the
given viewport, logged in as a person when asked. The page carries what the tests read after: `page.base`
(the live server's URL), `page.shots` (the screenshots' folder), `page.errors` (every response of 400 or more
and every script error: each script and style the pages load is ours and must be served), `page.width` and
`page.login(username)`. No ORM while the browser runs (Playwright's event loop is in the test's thread): rows
are made before, checked after.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.support import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "pass-Word-123"  # tests.factories.make_user's
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-sync"]
# A laptop's and a phone's width, the two every console page is looked at.
WIDTHS = {"laptop": (1366, 768), "phone": (390, 844)}

BROWSER_TEST = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)"),
]


@contextmanager
def browser_page(base_url: str, shots: Path, *, username: str | None = None, width: int = 1366,
                 height: int = 768, scripts: bool = True) -> Iterator:
    """A Chromium page on the live server at `base_url`, logged in as `username` when one is given."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=scripts,
                                      accept_downloads=True)
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on(
            "response",
            lambda response: errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None,
        )
        page.on("pageerror", lambda error: errors.append(str(error)))

        def login(name: str) -> None:
            page.goto(f"{base_url}/admin/login/")
            page.fill("#id_username", name)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{base_url}/admin/")

        page.base, page.shots, page.errors, page.width, page.login = base_url, shots, errors, width, login
        if username:
            login(username)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def keep_screenshots(shots: Path, names: Iterable[str] | None) -> None:
    """With UPDATE_SCREENSHOTS=1, copy the named screenshots (all when `names` is None) to docs/screenshots/."""
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for shot in sorted(shots.glob("*.png")) if names is None else (shots / name for name in names):
        if shot.exists():  # each test of a module takes some of them
            shutil.copyfile(shot, SCREENSHOTS / shot.name)


def fits_the_screen(page) -> None:
    """Nothing on the page is wider than the screen it is shown on."""
    assert page.evaluate("document.documentElement.scrollWidth") <= page.width, page.url


def shoot(page, name: str) -> None:
    """The page at a laptop's and a phone's width, `<name>-laptop.png` and `<name>-phone.png`, each checked to
    fit the screen; the viewport is the laptop's again after."""
    for size, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.width = width
        fits_the_screen(page)
        page.screenshot(path=page.shots / f"{name}-{size}.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.width = 1366
