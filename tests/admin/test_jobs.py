"""The fine-tuning job list and page: what staff see, find, and may edit."""

import re
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import parse_qsl

import pytest
from django.core.files.base import ContentFile
from django.db import connection as db
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from finetunings.models import (
    Finetuning,
    FinetuningCheckpoint,
    FinetuningEvent,
    FinetuningMetric,
    FinetuningStatus,
)
from tests.helpers.admin import change_url, changelist_url

TRAINING_FILE_TEXT = "Download the training file (JSONL)"


def make_jobs(connection, make_finetuning, count):
    for i in range(count):
        make_finetuning(
            connection,
            alias=f"bulk-{i}",
            status=FinetuningStatus.RUNNING,
            finetuning_job_id=f"ftjob-bulk-{i}",
            finetuning_file_id=f"file-bulk-{i}",
        )


def changelist_queries(client) -> int:
    with CaptureQueriesContext(db) as queries:
        response = client.get(changelist_url())
    assert response.status_code == HTTPStatus.OK
    return len(queries)


@pytest.fixture
def make_sales_job(connection, golden_records, make_finetuning):
    """The running job "sales-model" that the provider knows as ftjob-abc123."""

    def make(**fields):
        return make_finetuning(
            connection,
            alias="sales-model",
            status=FinetuningStatus.RUNNING,
            finetuning_job_id="ftjob-abc123",
            **fields,
        )

    return make


def test_the_change_list_shows_what_staff_need_per_job(viewer_client, connection, make_sales_job):
    job = make_sales_job(finetuning_file_id="file-xyz789")

    page = viewer_client.get(changelist_url())

    assert page.status_code == HTTPStatus.OK
    for shown in (
        "sales-model",
        '<span class="ft-badge ft-badge-running">Running</span>',
        connection.alias,
        f"openai / {job.model_name}",
        "ftjob-abc123",
        "file-xyz789",
    ):
        assert shown in page.text


def test_the_change_list_runs_the_same_queries_for_5_or_50_jobs(
    viewer_client, connection, golden_records, make_finetuning, make_connection, make_golden_records
):
    make_jobs(connection, make_finetuning, 5)
    with_five = changelist_queries(viewer_client)

    # More jobs, spread over more connections: still one query for the page.
    other = make_connection(alias="warehouse")
    make_golden_records(other)
    make_jobs(connection, make_finetuning, 20)
    make_jobs(other, make_finetuning, 25)
    with_fifty = changelist_queries(viewer_client)

    assert Finetuning.objects.count() == 50
    assert with_fifty == with_five


@pytest.mark.parametrize(
    "params", [{}, {"status__exact": "running"}, {"q": "bulk-1"}, {"provider": "openai"}]
)
def test_the_change_list_is_five_queries(
    superuser_client, connection, golden_records, make_finetuning, django_assert_num_queries, params
):
    make_jobs(connection, make_finetuning, 3)
    # PostgreSQL's row estimate of a small table is not used: the capped count follows it.
    estimate = 1 if db.vendor == "postgresql" and not params else 0

    # The session, the user, the connection filter's choices, the count and the page's rows
    # (a staff member who is not a superuser adds the two reads of their permissions).
    with django_assert_num_queries(5 + estimate):
        page = superuser_client.get(changelist_url(), params)

    assert page.status_code == HTTPStatus.OK
    assert "bulk-1" in page.text


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("sales", {"sales-model"}),
        ("ftjob-abc123", {"sales-model"}),
        ("file-xyz789", {"sales-model"}),
        ("hr", {"hr-model"}),
    ],
)
def test_search_by_alias_and_provider_ids(
    viewer_client, connection, golden_records, make_finetuning, term, expected
):
    make_finetuning(
        connection,
        alias="sales-model",
        finetuning_job_id="ftjob-abc123",
        finetuning_file_id="file-xyz789",
    )
    make_finetuning(connection, alias="hr-model", finetuning_job_id="ftjob-def456")

    page = viewer_client.get(changelist_url(), {"q": term})

    shown = {job.alias for job in page.context["cl"].result_list}
    assert shown == expected


def test_filters_by_status_provider_and_connection(
    viewer_client, connection, golden_records, make_finetuning, make_connection, make_golden_records
):
    other = make_connection(alias="warehouse")
    make_golden_records(other)
    running = make_finetuning(connection, alias="running-job", status=FinetuningStatus.RUNNING)
    make_finetuning(connection, alias="failed-job", status=FinetuningStatus.FAILED)
    elsewhere = make_finetuning(other, alias="warehouse-job")

    def shown(**params):
        page = viewer_client.get(changelist_url(), params)
        assert page.status_code == HTTPStatus.OK
        return {job.alias for job in page.context["cl"].result_list}

    assert shown(status__exact="running") == {running.alias}
    assert shown(db_connection=other.pk) == {elsewhere.alias}
    assert shown(provider="openai") == {"running-job", "failed-job", "warehouse-job"}
    Finetuning.objects.filter(pk=running.pk).update(created_at=timezone.now() - timedelta(days=40))
    assert shown(**date_filter(viewer_client, "Past 7 days")) == {"failed-job", "warehouse-job"}


def date_filter(client, title) -> dict[str, str]:
    """The query parameters of one of the created-at filter's links, as the page offers them."""
    page = client.get(changelist_url())
    (date_spec,) = [spec for spec in page.context["cl"].filter_specs if spec.title == "created at"]
    (choice,) = [c for c in date_spec.choices(page.context["cl"]) if c["display"] == title]
    return dict(parse_qsl(choice["query_string"].lstrip("?")))


def test_the_change_page_shows_every_field_and_the_timeline(viewer_client, make_sales_job):
    job = make_sales_job(provider_status="running", metadata={"team": "sales"})
    FinetuningEvent.objects.create(
        finetuning=job, kind="provider_event", actor="provider", message="Step 10/100: loss 0.42"
    )

    page = viewer_client.get(change_url(job))

    assert page.status_code == HTTPStatus.OK
    for shown in (
        job.pk,
        "sales-model",
        "ftjob-abc123",
        job.model_name,
        "Created with 12 golden records.",
        "Step 10/100: loss 0.42",
        "sales",
        "Not built yet.",
    ):
        assert shown in page.text
    assert TRAINING_FILE_TEXT not in page.text


def test_provider_owned_fields_are_read_only_and_alias_and_metadata_editable(
    editor_client, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection, alias="old-name", finetuning_job_id="ftjob-abc123")

    page = editor_client.get(change_url(job))
    form_fields = set(page.context["adminform"].form.fields)
    assert form_fields == {"alias", "metadata"}

    response = editor_client.post(
        change_url(job),
        {
            "alias": "new-name",
            "metadata": '{"team": "sales"}',
            "finetuning_job_id": "forged",
            "status": "succeeded",
        },
    )

    assert response.status_code == HTTPStatus.FOUND
    job.refresh_from_db()
    assert (job.alias, job.metadata) == ("new-name", {"team": "sales"})
    assert (job.finetuning_job_id, job.status) == ("ftjob-abc123", FinetuningStatus.QUEUED)
    assert FinetuningEvent.objects.filter(
        finetuning=job, kind="metadata_updated", actor="staff user eddie"
    ).exists()


def test_metadata_over_the_limits_is_refused_in_the_form(
    editor_client, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection)

    response = editor_client.post(
        change_url(job),
        {
            "alias": job.alias,
            "metadata": '{"team": 7}',
        },
    )

    assert response.status_code == HTTPStatus.OK
    assert "The value of &#x27;team&#x27; must be a string." in response.text
    job.refresh_from_db()
    assert job.metadata is None


def test_the_training_file_link_appears_once_the_file_is_built_and_downloads_it(
    superuser_client, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection, finetuning_file_id="file-xyz789")
    before = superuser_client.get(change_url(job))
    content = b'{"messages": []}\n'
    job.training_file.save(f"{job.pk}.jsonl", ContentFile(content))

    page = superuser_client.get(change_url(job))

    assert TRAINING_FILE_TEXT not in before.text
    url = f"/api/v1/finetunings/{job.pk}/training-file"
    assert f'<a href="{url}">{TRAINING_FILE_TEXT}</a>' in page.text
    download = superuser_client.get(url)
    assert download.status_code == HTTPStatus.OK
    assert b"".join(download.streaming_content) == content


def test_jobs_are_started_from_the_add_form_and_active_ones_not_deleted(
    superuser_client, connection, golden_records, make_finetuning
):
    active = make_finetuning(connection)
    finished = make_finetuning(connection, status=FinetuningStatus.FAILED)

    # The add form starts a job through finetuning_create (tests/admin/test_start_a_job.py).
    assert superuser_client.get(reverse("admin:finetunings_finetuning_add")).status_code == (
        HTTPStatus.OK
    )
    delete_url = "admin:finetunings_finetuning_delete"
    assert superuser_client.get(reverse(delete_url, args=[active.pk])).status_code == (
        HTTPStatus.FORBIDDEN
    )
    response = superuser_client.post(reverse(delete_url, args=[finished.pk]), {"post": "yes"})
    assert response.status_code == HTTPStatus.FOUND
    assert list(Finetuning.objects.all()) == [active]


def test_the_timeline_shows_the_latest_events_newest_first_and_links_to_all(
    viewer_client, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection)
    FinetuningEvent.objects.bulk_create(
        FinetuningEvent(
            finetuning=job,
            kind="provider_event",
            message=f"Step {i}: <b>loss</b>",
            created_at=timezone.now() + timedelta(seconds=i),
        )
        for i in range(1, 80)
    )

    page = viewer_client.get(change_url(job))

    assert page.status_code == HTTPStatus.OK
    assert "The latest 50 of 80 events, newest first." in page.text
    assert "Step 79: &lt;b&gt;loss&lt;/b&gt;" in page.text  # escaped
    assert page.text.index("Step 79:") < page.text.index("Step 30:")
    assert "Step 29:" not in page.text
    assert f'href="/api/v1/finetunings/{job.pk}/events"' in page.text
    assert 'name="events-' not in page.text  # nothing of it is posted back with the form


def test_a_long_list_of_golden_record_ids_is_cut_short(
    viewer_client, connection, golden_records, make_finetuning
):
    job = make_finetuning(connection)
    ids = [f"{i:024x}" for i in range(25)]
    Finetuning.objects.filter(pk=job.pk).update(golden_records=ids)

    page = viewer_client.get(change_url(job))

    assert ids[19] in page.text
    assert ids[20] not in page.text
    assert "and 5 more" in page.text
    assert f'href="/api/v1/finetunings/{job.pk}"' in page.text


def test_the_change_page_shows_the_training_file_and_worker_fields(
    viewer_client, connection, golden_records, make_finetuning
):
    started = timezone.now()
    job = make_finetuning(connection, provider_create_started_at=started)
    Finetuning.objects.filter(pk=job.pk).update(
        training_file_sha256="ab" * 32,
        training_file_size=2048,
        training_summary={"examples": 12, "token_counting": "<estimate>"},
    )

    page = viewer_client.get(change_url(job))

    assert "ab" * 32 in page.text
    assert "2048" in page.text or "2,048" in page.text
    assert "examples: 12<br>token_counting: &lt;estimate&gt;" in page.text
    fields = {
        field
        for fieldset in page.context["adminform"]
        for line in fieldset
        for field in line.fields
    }
    assert {"training_summary_lines", "provider_create_started_at"} <= fields


def test_a_nul_character_in_the_query_string_is_a_bad_filter_not_a_crash(viewer_client, finetuning):
    # PostgreSQL text cannot hold NUL: the search would fail the page's query.
    response = viewer_client.get(changelist_url(), {"q": "shop\x00"})

    assert response.status_code == HTTPStatus.FOUND
    assert response.url == f"{changelist_url()}?e=1"


def test_filter_values_that_are_not_offered_are_ignored(viewer_client, finetuning):
    for params in ({"provider": "nope"}, {"db_connection": "no-such-connection"}):
        page = viewer_client.get(changelist_url(), params)

        assert page.status_code == HTTPStatus.OK
        assert [job.pk for job in page.context["cl"].result_list] == [finetuning.pk]


def test_the_connection_autocomplete_ignores_nul_characters(superuser_client, connection):
    response = superuser_client.get(
        reverse("admin:autocomplete"),
        {
            "term": "sh\x00op",
            "app_label": "finetunings",
            "model_name": "goldenrecord",
            "field_name": "db_connection",
        },
    )

    assert response.status_code == HTTPStatus.OK
    assert [item["text"] for item in response.json()["results"]] == ["shop"]


# --- Following a job: progress, ETA, model id, loss chart, checkpoints ------------------------


def test_a_running_jobs_page_shows_progress_eta_loss_chart_and_checkpoints_at_the_top(
    viewer_client, connection, golden_records, make_finetuning
):
    job = make_finetuning(
        connection,
        status=FinetuningStatus.RUNNING,
        finetuning_job_id="ftjob-abc123",
        estimated_finish=timezone.now() + timedelta(hours=2, minutes=5),
    )
    FinetuningMetric.objects.bulk_create(
        FinetuningMetric(finetuning=job, step=step, total_steps=80, train_loss=3.0 / step)
        for step in range(1, 21)
    )
    FinetuningCheckpoint.objects.create(
        finetuning=job,
        provider_checkpoint_id="ftckpt-1",
        step=10,
        model_id="ft:gpt-4o-mini:acme::abc:ckpt-step-10",
        metrics={"train_loss": 0.3},
    )

    text = viewer_client.get(change_url(job)).text

    assert '<progress class="ft-progress" max="100" value="25.0">' in text
    assert "step 20 of 80" in text
    assert re.search(r"\(in (1 h 59|2 h 0|2 h 4|2 h 5) min\)", text)
    [points] = re.findall(r'<polyline class="ft-loss-train"[^>]* points="([^"]+)"', text)
    pairs = [tuple(map(float, pair.split(","))) for pair in points.split()]
    assert len(pairs) == 20
    assert pairs[0][1] < pairs[-1][1]  # the loss falls: its line goes down the chart (SVG y)
    assert "ft:gpt-4o-mini:acme::abc:ckpt-step-10" in text
    assert 'data-copy="ft:gpt-4o-mini:acme::abc:ckpt-step-10"' in text
    # The training section comes before the job's other fields.
    assert text.index("ft-progress") < text.index("ftjob-abc123")
    assert "finetunings/copy.js" in text


def test_a_succeeded_jobs_model_id_has_a_copy_button_and_the_list_shows_progress(
    viewer_client, connection, golden_records, make_finetuning
):
    job = make_finetuning(
        connection,
        status=FinetuningStatus.SUCCEEDED,
        finetuning_job_id="ftjob-done",
        model_id="ft:gpt-4o-mini:acme::done",
    )
    FinetuningMetric.objects.create(finetuning=job, step=50, total_steps=50, train_loss=0.1)

    page = viewer_client.get(change_url(job)).text
    listed = viewer_client.get(changelist_url()).text

    assert 'data-copy="ft:gpt-4o-mini:acme::done"' in page
    assert "ft:gpt-4o-mini:acme::done" in listed
    assert "100 %" in listed


def test_the_alias_of_a_job_with_a_long_timeline_can_be_edited(
    editor_client, connection, golden_records, make_finetuning
):
    # Every timeline row is a read-only inline form with two hidden inputs; past ~500 events
    # the change form sends more than DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) and gets a 400.
    job = make_finetuning(connection, alias="old-name")
    FinetuningEvent.objects.bulk_create(
        FinetuningEvent(finetuning=job, kind="provider_event", message=f"Step {i}: loss 0.4")
        for i in range(600)
    )
    page = editor_client.get(change_url(job))

    response = editor_client.post(
        change_url(job),
        {**rendered_form_data(page), "alias": "new-name", "metadata": "null", "_save": "Save"},
    )

    assert response.status_code == HTTPStatus.FOUND
    job.refresh_from_db()
    assert job.alias == "new-name"


def test_the_change_page_of_a_job_with_thousands_of_events_stays_light(
    viewer_client, connection, golden_records, make_finetuning
):
    # A long training run reports thousands of provider events; the inline renders them all
    # (about 2.4 kB each: 5,000 events make a 12 MB page that takes seconds to build).
    job = make_finetuning(connection, status=FinetuningStatus.RUNNING)
    FinetuningEvent.objects.bulk_create(
        FinetuningEvent(finetuning=job, kind="provider_event", message=f"Step {i}: loss 0.4")
        for i in range(2_000)
    )

    page = viewer_client.get(change_url(job))

    assert page.status_code == HTTPStatus.OK
    assert len(page.content) < 1_000_000


def test_the_change_page_of_a_job_with_100000_golden_records_stays_light(
    viewer_client, connection, golden_records, make_finetuning
):
    # The API allows 100,000 golden record ids; the read-only field prints every one (3.8 MB).
    job = make_finetuning(connection)
    Finetuning.objects.filter(pk=job.pk).update(
        golden_records=[f"{i:024x}" for i in range(100_000)]
    )

    page = viewer_client.get(change_url(job))

    assert page.status_code == HTTPStatus.OK
    assert "100000" in page.text or "100,000" in page.text  # the count is still shown
    assert len(page.content) < 1_000_000


def test_the_change_list_does_not_load_every_jobs_golden_record_ids(
    viewer_client, connection, golden_records, make_finetuning
):
    # The list shows no golden record ids, yet its page query reads the whole JSON list of
    # each job: 50 jobs of 100,000 ids take the page from 0.03 s to 2 s on PostgreSQL.
    make_finetuning(connection)

    with CaptureQueriesContext(db_connection) as queries:
        page = viewer_client.get(changelist_url())

    assert page.status_code == HTTPStatus.OK
    (page_query,) = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "finetunings_finetuning"' in q["sql"] and "COUNT(" not in q["sql"]
    ]
    assert '"golden_records"' not in page_query


def test_the_change_page_shows_the_training_file_summary(
    viewer_client, connection, golden_records, make_finetuning
):
    # "The change page shows every field": the training file's checksum, size and summary
    # (what the API returns with it) are on no fieldset.
    job = make_finetuning(connection, finetuning_file_id="file-xyz789")
    job.training_file.save(f"{job.pk}.jsonl", ContentFile(b'{"messages": []}\n'))
    sha256 = "9f" * 32
    Finetuning.objects.filter(pk=job.pk).update(
        training_file_sha256=sha256,
        training_file_size=17,
        training_summary={"sha256": sha256, "bytes": 17, "examples": 12},
    )

    page = viewer_client.get(change_url(job))

    assert page.status_code == HTTPStatus.OK
    assert sha256 in page.text


def rendered_form_data(page) -> dict[str, str]:
    """The hidden inline fields the browser sends back with the change form."""
    return dict(
        re.findall(r'<input type="hidden" name="(events-[^"]+)" value="([^"]*)"', page.text)
    )
