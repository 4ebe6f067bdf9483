"""Driving Debian's headless Chromium with Playwright, for the admin's browser tests.

Playwright's sync API runs an asyncio event loop in the thread that drives the browser, and
Django refuses ORM calls from a thread with a running loop. Rather than switch that safety
check off (DJANGO_ALLOW_ASYNC_UNSAFE), each scenario drives the browser in a thread of its
own and the test thread keeps the database work: set-up before, assertions after, and, for
a scenario started in the background, steps in between (see ``Handshake``).

The fixtures ``chromium`` and ``staff_member`` are imported by the conftest or test module
that uses them.
"""

import os
import queue
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Set to a folder to keep a screenshot of each step (for looking at the pages by eye).
SCREENSHOTS = os.environ.get("ADMIN_SCREENSHOTS_DIR")
USERNAME, PASSWORD = "sam", "a-long-browser-password-7"
WINDOW = {"width": 1400, "height": 900}


def snapshot(page, name):
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def chromium():
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if path is None:
        reason = f"Chromium not found at {CHROMIUM}: install it with scripts/install-browser"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the browser tests)")
        pytest.skip(reason)
    return path


@pytest.fixture
def staff_member(transactional_db, django_user_model):
    """The browser's user: may look at jobs and cancel them."""
    user = django_user_model.objects.create_user(
        username=USERNAME, password=PASSWORD, is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_finetuning", "cancel_finetuning"])
    )
    return user


class BrowserRunner:
    """Runs ``scenario(page)`` in a browser logged in to the admin, in a thread of its own."""

    def __init__(self, chromium: str, base_url: str):
        self.chromium = chromium
        self.base_url = base_url

    def __call__(self, scenario) -> None:
        self.start(scenario).result()

    def start(self, scenario) -> Future:
        pool = ThreadPoolExecutor(max_workers=1)
        future = pool.submit(self._drive, scenario)
        pool.shutdown(wait=False)
        return future

    def _drive(self, scenario) -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=self.chromium, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page(viewport=WINDOW)
                page.goto(f"{self.base_url}/admin/")
                page.fill("#id_username", USERNAME)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_selector("#user-tools")
                snapshot(page, "0-index")
                scenario(page)
            finally:
                browser.close()


class Handshake:
    """Turns between a background browser scenario and the test thread's database work."""

    def __init__(self, timeout: float = 60):
        self.timeout = timeout
        self._to_test: queue.Queue = queue.Queue()
        self._to_browser: queue.Queue = queue.Queue()

    def ask(self, step: str) -> None:
        """In the browser thread: hand over ``step`` and wait until the test has done it."""
        self._to_test.put(step)
        self._to_browser.get(timeout=self.timeout)

    def next_step(self, future: Future) -> str:
        """In the test thread: the next step the browser asks for (the browser's error if
        it failed meanwhile)."""
        while True:
            try:
                return self._to_test.get(timeout=0.2)
            except queue.Empty:
                if future.done():
                    future.result()  # raises the scenario's failure
                    message = "The browser scenario ended before its next step."
                    raise AssertionError(message) from None

    def step_done(self) -> None:
        self._to_browser.put("done")
