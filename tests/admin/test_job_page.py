"""The job's admin page, built around what staff ask first: where the job stands at the top,
the loss falling, the checkpoints, a readable timeline in the provider's order, the worker's
bookkeeping folded away; and the small view the page refreshes itself from."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from finetunings import worker
from finetunings.admin.jobs import FinetuningAdmin
from finetunings.models import Finetuning, FinetuningEvent, FinetuningMetric, FinetuningStatus
from finetunings.providers import get_provider
from tests.helpers.admin import change_url

LIVE_FIELDS = {
    "live_status",
    "training_progress",
    "training_eta",
    "training_elapsed",
    "model_id_with_copy",
    "loss_chart",
    "checkpoint_table",
    "training_tokens",
    "timeline",
}


def live_url(job) -> str:
    return reverse("admin:finetunings_finetuning_live", args=[job.pk])


def chart_points(html: str) -> list[tuple[float, float]]:
    [points] = re.findall(r'<polyline class="ft-loss-train"[^>]* points="([^"]+)"', html)
    return [tuple(map(float, pair.split(","))) for pair in points.split()]


def worker_refresh(job):
    Finetuning.objects.filter(pk=job.pk).update(last_polled_at=None)
    worker.refresh_active_jobs(
        provider=get_provider("openai"), worker_id="test-worker", log=lambda line: None
    )


@pytest.fixture
def trained_job(openai_provider, connection, golden_records, make_finetuning, no_network):
    """A job the fake OpenAI has trained 40 of 100 steps, brought in by the worker."""
    remote = openai_provider.add_job(status="running")
    job = make_finetuning(
        connection,
        alias="watched-model",
        status=FinetuningStatus.RUNNING,
        finetuning_job_id=remote["id"],
        provider_status="running",
    )
    openai_provider.train(remote["id"], 40, total_steps=100)
    worker_refresh(job)
    return Finetuning.objects.get(pk=job.pk)


def test_a_running_jobs_page_shows_progress_loss_chart_eta_and_checkpoint_model_ids(
    viewer_client, trained_job
):
    text = viewer_client.get(change_url(trained_job)).text

    assert '<progress class="ft-progress" max="100" value="40.0">' in text
    assert "step 40 of 100" in text
    assert re.search(r"\(in \d+ (h \d+ )?min\)", text)  # the provider's estimate
    points = chart_points(text)
    assert len(points) == 40  # one per step the worker stored
    assert [x for x, _ in points] == sorted(x for x, _ in points)
    assert points[-1][1] > points[0][1]  # the loss fell: its line goes down (SVG y grows)
    checkpoint = f"ft:gpt-4o-mini-2024-07-18:acme::{trained_job.finetuning_job_id[-8:]}"
    assert f'data-copy="{checkpoint}:ckpt-step-25"' in text
    assert "so far" in text  # elapsed time
    assert "40,000" in text  # trained tokens
    # Where the job stands comes before everything else on the page.
    assert text.index('data-ft-live="live_status"') < text.index("ftjob-")
    assert text.index("ft-loss-chart") < text.index('data-ft-live="timeline"')


def test_a_succeeded_jobs_model_id_is_at_the_top_with_a_copy_button(
    viewer_client, trained_job, openai_provider
):
    openai_provider.train(trained_job.finetuning_job_id, 60, total_steps=100)
    openai_provider.set_status(trained_job.finetuning_job_id, "succeeded")
    worker_refresh(trained_job)
    model_id = Finetuning.objects.get(pk=trained_job.pk).model_id

    text = viewer_client.get(change_url(trained_job)).text

    assert model_id
    assert text.index(f'data-copy="{model_id}"') < text.index("At the provider")
    assert "(finished)" in text
    assert 'id="ft-live"' not in text  # an ended job's page does not refresh itself


def test_an_active_jobs_page_refreshes_itself_at_the_admins_interval(
    viewer_client, finetuning, monkeypatch
):
    monkeypatch.setattr(FinetuningAdmin, "live_refresh_seconds", 2.5)

    text = viewer_client.get(change_url(finetuning)).text

    assert f'data-ft-live-url="{live_url(finetuning)}"' in text
    assert 'data-ft-live-ms="2500"' in text
    assert "finetunings/live.js" in text


def test_the_live_view_sends_each_live_field_and_whether_the_job_is_still_active(
    viewer_client, trained_job, openai_provider
):
    answer = viewer_client.get(live_url(trained_job))

    assert answer.status_code == HTTPStatus.OK
    assert answer["Cache-Control"].startswith("max-age=0")
    body = answer.json()
    assert body["active"] is True
    assert set(body["parts"]) == LIVE_FIELDS
    assert len(chart_points(body["parts"]["loss_chart"])) == 40
    for name, html in body["parts"].items():
        assert html.startswith(f'<div data-ft-live="{name}">')

    openai_provider.set_status(trained_job.finetuning_job_id, "failed", error_message="Boom.")
    worker_refresh(trained_job)
    ended = viewer_client.get(live_url(trained_job)).json()

    assert ended["active"] is False
    assert "Failed" in ended["parts"]["live_status"]


def test_the_live_view_costs_the_same_queries_for_a_long_run(
    viewer_client, connection, golden_records, make_finetuning
):
    def queries_for(steps):
        job = make_finetuning(connection, status=FinetuningStatus.RUNNING)
        FinetuningMetric.objects.bulk_create(
            FinetuningMetric(finetuning=job, step=step, total_steps=steps, train_loss=1 / step)
            for step in range(1, steps + 1)
        )
        FinetuningEvent.objects.bulk_create(
            FinetuningEvent(finetuning=job, kind="provider_event", message=f"Step {step}")
            for step in range(steps)
        )
        with CaptureQueriesContext(db) as queries:
            assert viewer_client.get(live_url(job)).status_code == HTTPStatus.OK
        return len(queries)

    # (Past the 50 events shown, the timeline counts the rest: both runs are past it.)
    assert queries_for(100) == queries_for(2000)


def test_the_live_view_of_a_missing_job_or_for_a_stranger_is_refused(
    viewer_client, client, finetuning
):
    missing = reverse("admin:finetunings_finetuning_live", args=["no-such-job"])
    nul = reverse("admin:finetunings_finetuning_live", args=["a\x00b"])

    assert viewer_client.get(missing).status_code == HTTPStatus.NOT_FOUND
    assert viewer_client.get(nul).status_code == HTTPStatus.NOT_FOUND
    # Not logged in: the admin's login page, not the job.
    assert client.get(live_url(finetuning)).status_code == HTTPStatus.FOUND


def test_the_live_view_needs_the_right_to_see_jobs(make_staff, finetuning):
    from tests.helpers.admin import logged_in

    stranger = logged_in(make_staff("sue", "view_goldenrecord"))

    assert stranger.get(live_url(finetuning)).status_code == HTTPStatus.FORBIDDEN


def test_the_timeline_interleaves_provider_and_own_events_in_the_providers_time_order(
    viewer_client, finetuning
):
    now = timezone.now()
    FinetuningEvent.objects.bulk_create(
        [
            # Read by the worker late, but the provider's time says it came first.
            FinetuningEvent(
                finetuning=finetuning,
                kind="provider_event",
                actor="provider",
                message="Fine-tuning job started",
                created_at=now - timedelta(minutes=10),
                provider_sequence=1,
            ),
            FinetuningEvent(
                finetuning=finetuning,
                kind="status_changed",
                from_status="queued",
                to_status="running",
                message="ours",
                created_at=now - timedelta(minutes=5),
            ),
            FinetuningEvent(
                finetuning=finetuning,
                kind="provider_event",
                actor="provider",
                message="Step 2/100: training loss=0.91",
                created_at=now - timedelta(minutes=1),
                provider_sequence=3,
                data={
                    "level": "info",
                    "provider_created_at": (now - timedelta(minutes=1)).isoformat(),
                    "data": {"step": 2, "train_loss": 0.91},
                },
            ),
            FinetuningEvent(
                finetuning=finetuning,
                kind="provider_event",
                actor="provider",
                message="Step 1/100: training loss=1.2",
                created_at=now - timedelta(minutes=1),  # the same second as step 2
                provider_sequence=2,
            ),
        ]
    )

    text = viewer_client.get(change_url(finetuning)).text

    order = [
        text.index(message)
        for message in (
            "Step 2/100",
            "Step 1/100",
            "queued → running",
            "Fine-tuning job started",
        )
    ]
    assert order == sorted(order)  # newest first, in the provider's order
    # The event's data as key/value lines, the provider's nested data dotted.
    assert "<dt>level</dt><dd>info</dd>" in text
    assert "<dt>data.step</dt><dd>2</dd>" in text
    assert "<dt>data.train_loss</dt><dd>0.91</dd>" in text
    assert "<dt>provider_created_at</dt>" not in text  # it is the "when" column already


def test_the_workers_fields_are_folded_away_below_what_staff_ask_first(viewer_client, finetuning):
    Finetuning.objects.filter(pk=finetuning.pk).update(
        lease_owner="worker-7", cancel_request={"actor": "api key ci"}
    )

    page = viewer_client.get(change_url(finetuning))

    fieldsets = {fieldset.name: fieldset for fieldset in page.context["adminform"]}
    folded = fieldsets["Worker (internal)"]
    assert "collapse" in folded.classes
    names = {field for line in folded for field in line.fields}
    assert {
        "lease_owner",
        "lease_until",
        "provider_create_started_at",
        "last_polled_at",
        "cancel_request",
        "attempts",
    } <= names
    (top,) = [fieldset for name, fieldset in fieldsets.items() if name is None]
    assert not names & {field for line in top for field in line.fields}
    assert "worker-7" in page.text
