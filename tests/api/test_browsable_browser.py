"""The browsable API in a real browser: logging in from its root, cancelling from its page."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from finetunings.models import FinetuningStatus
from tests.helpers import browser
from tests.helpers.browser import CHROMIUM_ARGS, PASSWORD, USERNAME

# The browser tests' fixtures: Chromium's path and a staff member who may cancel.
chromium = browser.chromium
staff_member = browser.staff_member

pytestmark = pytest.mark.browser


def in_browser_logged_out(chromium_path, scenario):
    def drive():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
            )
            try:
                scenario(browser.new_page(viewport={"width": 1400, "height": 900}))
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(drive).result()


def test_log_in_from_the_api_root_and_cancel_from_the_cancel_page(
    chromium,
    live_server,
    staff_member,
    connection,
    golden_records,
    make_finetuning,
):
    job = make_finetuning(connection, alias="browsable-model")

    def scenario(page):
        from playwright.sync_api import expect

        page.goto(f"{live_server.url}/api/v1/")
        expect(page.locator("body")).to_contain_text("natural-language-to-SQL")
        page.get_by_role("link", name="Log in").click()
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("body")).to_contain_text(USERNAME)

        page.goto(f"{live_server.url}/api/v1/finetunings/{job.pk}/cancel")
        expect(page.locator("body")).to_contain_text("Press POST below to cancel this job")
        expect(page.locator("body")).not_to_contain_text("not allowed")
        page.get_by_role("button", name="POST").last.click()
        expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")
        expect(page.locator(".response-info")).to_contain_text('"status": "cancelled"')

    in_browser_logged_out(chromium, scenario)

    job.refresh_from_db()
    assert job.status == FinetuningStatus.CANCELLED
    assert job.cancelled_by == f"staff user {USERNAME}"
