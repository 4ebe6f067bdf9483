"""The cancel flow in a real headless Chromium (Debian's package), driven by Playwright.

The browser fixtures are in tests/admin/conftest.py, on tests/helpers/browser.py.
"""

import re

import pytest
from django.contrib.auth.models import Permission

from finetunings.admin.cancel import CANCEL_DONE
from finetunings.admin.start_again import START_AGAIN_DONE
from finetunings.models import Finetuning, FinetuningStatus
from tests.helpers.browser import USERNAME, snapshot

pytestmark = pytest.mark.browser


def test_cancel_a_job_from_its_page(in_browser, connection, golden_records, make_finetuning):
    job = make_finetuning(connection, alias="nightly-sales-model")
    make_finetuning(connection, alias="other-model")
    done_message = CANCEL_DONE.format(job=job)

    def scenario(page):
        from playwright.sync_api import expect

        page.get_by_role("link", name="Fine-tuning jobs", exact=True).click()
        page.fill("#searchbar", "nightly-sales")
        page.press("#searchbar", "Enter")
        page.click("#result_list a:text('nightly-sales-model')")
        snapshot(page, "1-change-page")
        page.click("button:text('Cancel job')")
        expect(page.locator("#content")).to_contain_text("Are you sure you want to cancel")
        expect(page.locator("#ft-cancel-active")).to_contain_text("nightly-sales-model")
        snapshot(page, "2-confirmation")
        page.click("input[type=submit][value='Yes, cancel']")
        expect(page.locator(".messagelist .success")).to_have_text(done_message)
        # Back on the job's own page (not the list), which now shows it cancelled.
        expect(page).to_have_url(re.compile(rf"/finetuning/{job.pk}/change/"))
        expect(page.locator("#content .ft-badge").first).to_have_text("Cancelled")
        expect(page.locator("button:text('Cancel job')")).to_have_count(0)
        snapshot(page, "3-cancelled")

    in_browser(scenario)

    job.refresh_from_db()
    assert job.status == FinetuningStatus.CANCELLED
    assert job.cancelled_by == f"staff user {USERNAME}"


def test_cancel_two_jobs_with_the_bulk_action(
    in_browser, connection, golden_records, make_finetuning
):
    first = make_finetuning(connection, alias="first-model")
    second = make_finetuning(connection, alias="second-model", status=FinetuningStatus.RUNNING)
    untouched = make_finetuning(connection, alias="untouched-model")

    def scenario(page):
        from playwright.sync_api import expect

        page.get_by_role("link", name="Fine-tuning jobs", exact=True).click()
        page.locator("#changelist-filter").get_by_role("link", name="openai").click()
        filtered_url = page.url
        for alias in ("first-model", "second-model"):
            page.locator("#result_list tr", has_text=alias).locator("input.action-select").check()
        page.select_option("select[name=action]", "cancel_finetunings")
        page.click("button[name=index]")
        expect(page.locator("#ft-cancel-active li")).to_have_count(2)
        snapshot(page, "4-bulk-confirmation")
        page.click("input[type=submit][value='Yes, cancel']")
        successes = page.locator(".messagelist .success")
        expect(successes).to_have_count(2)
        for job in (first, second):
            expect(successes.filter(has_text=CANCEL_DONE.format(job=job))).to_have_count(1)
        expect(page).to_have_url(filtered_url)  # back on the list, its filter kept
        for alias, badge in [
            ("first-model", "Cancelled"),
            ("second-model", "Cancelled"),
            ("untouched-model", "Queued"),
        ]:
            row = page.locator("#result_list tr", has_text=alias)
            expect(row.locator(".ft-badge")).to_have_text(badge)
        snapshot(page, "5-bulk-cancelled")

    in_browser(scenario)

    statuses = {}
    for job in (first, second, untouched):
        job.refresh_from_db()
        statuses[job.alias] = job.status
    assert statuses == {
        "first-model": FinetuningStatus.CANCELLED,
        "second-model": FinetuningStatus.CANCELLED,
        "untouched-model": FinetuningStatus.QUEUED,
    }


def may_start_jobs(user):
    user.user_permissions.add(Permission.objects.get(codename="add_finetuning"))


def test_start_a_job_again_with_the_same_records(
    in_browser, staff_member, connection, golden_records, make_finetuning
):
    may_start_jobs(staff_member)
    old = make_finetuning(connection, alias="failed-model", status=FinetuningStatus.FAILED)
    chosen = [record.pk for record in golden_records[:10]]
    Finetuning.objects.filter(pk=old.pk).update(golden_records=chosen)
    shown = {}

    def scenario(page):
        from playwright.sync_api import expect

        page.get_by_role("link", name="Fine-tuning jobs", exact=True).click()
        page.click("#result_list a:text('failed-model')")
        # A finished job's page offers no cancel, only starting it again.
        expect(page.locator("button:text('Cancel job')")).to_have_count(0)
        page.click("button:text('Start again with the same golden records')")
        success = page.locator(".messagelist .success")
        expect(success).to_contain_text("with the same golden records")
        shown["message"] = success.inner_text()
        shown["url"] = page.url
        expect(page.locator("#content .ft-badge").first).to_have_text("Queued")
        snapshot(page, "6-started-again")

    in_browser(scenario)

    new = Finetuning.objects.exclude(pk=old.pk).get()
    assert new.golden_records == chosen
    assert shown["message"] == START_AGAIN_DONE.format(job=new)
    assert shown["url"].endswith(f"/finetuning/{new.pk}/change/")


def test_start_a_job_from_the_add_form(in_browser, staff_member, connection, golden_records):
    may_start_jobs(staff_member)
    shown = {}

    def scenario(page):
        from playwright.sync_api import expect

        page.get_by_role("link", name="Fine-tuning jobs", exact=True).click()
        page.get_by_role("link", name=re.compile("Add fine-tuning job", re.I)).click()
        page.select_option("#id_db_connection", label=str(connection))
        page.fill("#id_alias", "from-the-form")
        snapshot(page, "7-add-form")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist .success")).to_contain_text("from-the-form")
        expect(page.locator("#content .ft-badge").first).to_have_text("Queued")
        shown["url"] = page.url

    in_browser(scenario)

    job = Finetuning.objects.get()
    assert job.alias == "from-the-form"
    assert job.golden_records == [record.pk for record in golden_records]
    assert shown["url"].endswith(f"/finetuning/{job.pk}/change/")
