"""In a real browser: the page of an active job follows the job without a reload, and stops
once the job has ended; the job list fits a 1400 px window.

The fake OpenAI server trains the job and the worker's own refresh brings each step in, as in
production; the browser only watches.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from finetunings import worker
from finetunings.admin.jobs import FinetuningAdmin
from finetunings.models import Finetuning, FinetuningMetric, FinetuningStatus
from finetunings.providers import get_provider
from tests.helpers.admin import change_url, changelist_url
from tests.helpers.browser import WINDOW, Handshake, snapshot

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_network")]

REFRESH_SECONDS = 0.3
TYPED_ALIAS = "typed but not saved"
WORKER_SECTION_TOP = "document.querySelector('fieldset.collapse').getBoundingClientRect().top"


def worker_refresh(job):
    """One refresh pass of the worker, with the job due for it."""
    Finetuning.objects.filter(pk=job.pk).update(last_polled_at=None)
    worker.refresh_active_jobs(
        provider=get_provider("openai"), worker_id="test-worker", log=lambda line: None
    )


@pytest.fixture
def running_job(openai_provider, connection, golden_records, make_finetuning):
    remote = openai_provider.add_job(status="running")
    return make_finetuning(
        connection,
        alias="watched-model",
        status=FinetuningStatus.RUNNING,
        provider_status="running",
        finetuning_job_id=remote["id"],
    )


def test_an_active_jobs_page_follows_the_job_in_place_and_stops_when_it_ends(
    in_browser, live_server, staff_member, running_job, openai_provider, monkeypatch
):
    monkeypatch.setattr(FinetuningAdmin, "live_refresh_seconds", REFRESH_SECONDS)
    # May edit the alias: what the user types must survive the refreshes.
    staff_member.user_permissions.add(Permission.objects.get(codename="change_finetuning"))
    remote_id = running_job.finetuning_job_id
    handshake = Handshake()
    seen = {}

    def scenario(page):
        from playwright.sync_api import expect

        live_requests = []
        page.on("request", lambda r: "/live/" in r.url and live_requests.append(r.url))
        page.goto(f"{live_server.url}{change_url(running_job)}")
        progress = page.locator('[data-ft-live="training_progress"]')
        expect(progress).to_have_text("No step reported yet.")
        # The user's place: typed input, an open section, a scroll position.
        page.fill("#id_alias", TYPED_ALIAS)
        page.locator("fieldset.collapse summary").first.click()
        page.mouse.wheel(0, 300)
        page.wait_for_function("window.scrollY > 0")
        scrolled = page.evaluate(WORKER_SECTION_TOP)

        handshake.ask("train 40 of 100 steps")
        expect(progress).to_contain_text("40 %", timeout=10_000)
        expect(progress).to_contain_text("step 40 of 100")
        expect(page.locator("polyline.ft-loss-train")).to_have_count(1)
        expect(page.locator('[data-ft-live="checkpoint_table"]')).to_contain_text("ckpt-step-25")
        expect(page.locator('[data-ft-live="training_eta"]')).to_contain_text("in ")
        seen["points"] = page.locator("polyline.ft-loss-train").get_attribute("points")
        seen["alias"] = page.input_value("#id_alias")
        seen["worker_open"] = page.locator("fieldset.collapse details").first.evaluate(
            "d => d.open"
        )
        # What the user looked at stays where it was on the screen, though the training
        # section above it grew.
        seen["scroll"] = (scrolled, page.evaluate(WORKER_SECTION_TOP))
        seen["reloads"] = page.evaluate("performance.getEntriesByType('navigation').length")
        snapshot(page, "live-1-running")

        handshake.ask("finish the job")
        expect(page.locator("#ft-live")).to_have_attribute(
            "data-ft-live-state", "stopped", timeout=10_000
        )
        expect(page.locator('[data-ft-live="live_status"] .ft-badge')).to_have_text("Succeeded")
        expect(progress).to_contain_text("100 %")
        expect(page.locator('[data-ft-live="model_id_with_copy"] .ft-model-id')).to_have_text(
            f"ft:gpt-4o-mini-2024-07-18:acme::{remote_id[-8:]}"
        )
        expect(page.locator("button:text('Cancel job')")).to_have_count(0)
        asked_when_ended = len(live_requests)
        page.wait_for_timeout(REFRESH_SECONDS * 1000 * 6)
        seen["asked_after_end"] = len(live_requests) - asked_when_ended
        seen["alias_at_end"] = page.input_value("#id_alias")
        snapshot(page, "live-2-succeeded")

    future = in_browser.start(scenario)
    assert handshake.next_step(future) == "train 40 of 100 steps"
    openai_provider.train(remote_id, 40, total_steps=100)
    worker_refresh(running_job)
    handshake.step_done()
    assert handshake.next_step(future) == "finish the job"
    openai_provider.train(remote_id, 60, total_steps=100)
    openai_provider.set_status(remote_id, "succeeded")
    worker_refresh(running_job)
    handshake.step_done()
    future.result()

    assert len(seen["points"].split()) == 40
    assert seen["alias"] == seen["alias_at_end"] == TYPED_ALIAS
    assert seen["worker_open"] is True
    assert abs(seen["scroll"][1] - seen["scroll"][0]) <= 2
    assert seen["reloads"] == 1  # the first load only
    assert seen["asked_after_end"] == 0
    running_job.refresh_from_db()
    assert running_job.status == FinetuningStatus.SUCCEEDED
    assert running_job.alias == "watched-model"  # nothing was saved behind the user's back


def test_the_job_list_shows_model_id_and_progress_within_a_1400_px_window(
    in_browser, live_server, connection, golden_records, make_finetuning
):
    for index, status in enumerate([FinetuningStatus.RUNNING, FinetuningStatus.SUCCEEDED] * 3):
        job = make_finetuning(
            connection,
            alias=f"nightly-sales-and-marketing-model-{index}",
            status=status,
            finetuning_job_id=f"ftjob-{'a' * 24}{index}",
            finetuning_file_id=f"file-{'b' * 22}{index}",
            model_id=(
                f"ft:gpt-4o-mini-2024-07-18:acme-corporation::{'C' * 8}{index}"
                if status == FinetuningStatus.SUCCEEDED
                else None
            ),
            estimated_finish=timezone.now() + timedelta(hours=1),
        )
        FinetuningMetric.objects.create(finetuning=job, step=37, total_steps=100, train_loss=0.5)
    measured = {}

    def scenario(page):
        page.goto(f"{live_server.url}{changelist_url()}")
        page.wait_for_selector("#result_list")
        snapshot(page, "list-1400")
        measured["scroll_width"] = page.evaluate("document.documentElement.scrollWidth")
        # The admin scrolls a wide table inside its own box, not the page: measure that too.
        measured["table_overflow"] = page.evaluate(
            "(box => box.scrollWidth - box.clientWidth)(document.querySelector('.results'))"
        )
        measured["right_edges"] = page.evaluate(
            """() => [...document.querySelectorAll(
                '#result_list td.field-fine_tuned_model, #result_list td.field-progress_column'
            )].map(cell => cell.getBoundingClientRect().right)"""
        )
        measured["texts"] = page.locator("#result_list").inner_text()

    in_browser(scenario)

    assert measured["scroll_width"] <= WINDOW["width"]
    assert measured["table_overflow"] <= 0
    assert len(measured["right_edges"]) == 12
    assert max(measured["right_edges"]) <= WINDOW["width"]
    assert "ft:gpt-4o-mini-2024-07-18:acme-corporation::CCCCCCCC1" in measured["texts"]
    assert re.search(r"37 %", measured["texts"])
