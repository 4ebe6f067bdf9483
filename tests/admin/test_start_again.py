"""Starting a job again from its admin page, through the same service as the API."""

from django.contrib.admin.models import ADDITION, LogEntry

from finetunings.admin.start_again import START_AGAIN_ACTION, START_AGAIN_DONE, START_AGAIN_REFUSED
from finetunings.models import Finetuning, FinetuningEvent, FinetuningStatus, GoldenRecord
from tests.helpers.admin import CHANGE_FORM_ACTION, change_url, logged_in, messages_of


def start_again(client, job):
    return client.post(
        change_url(job),
        {CHANGE_FORM_ACTION: START_AGAIN_ACTION, "_selected_action": job.pk},
        follow=True,
    )


def test_start_again_creates_a_job_with_the_same_records_and_opens_it(
    make_staff, connection, golden_records, make_finetuning
):
    staff = make_staff("stella", "view_finetuning", "add_finetuning")
    old = make_finetuning(connection, status=FinetuningStatus.FAILED, metadata={"team": "growth"})

    response = start_again(logged_in(staff), old)

    new = Finetuning.objects.exclude(pk=old.pk).get()
    assert response.redirect_chain[-1][0] == change_url(new)
    assert messages_of(response) == [START_AGAIN_DONE.format(job=new)]
    assert new.golden_records == old.golden_records
    assert (new.model_name, new.metadata, new.status) == (
        old.model_name,
        {"team": "growth"},
        "queued",
    )
    assert FinetuningEvent.objects.get(finetuning=new, kind="created").actor == "staff user stella"
    assert LogEntry.objects.get(object_id=new.pk).action_flag == ADDITION


def test_start_again_says_why_when_records_are_gone(
    superuser_client, connection, golden_records, make_finetuning
):
    old = make_finetuning(connection, status=FinetuningStatus.SUCCEEDED)
    GoldenRecord.objects.filter(pk=golden_records[0].pk).delete()

    response = start_again(superuser_client, old)

    (message,) = messages_of(response)
    assert message.startswith(START_AGAIN_REFUSED.split("{")[0])
    assert "Unknown golden record ids" in message
    assert Finetuning.objects.count() == 1


def test_start_again_needs_the_add_permission(
    make_staff, connection, golden_records, make_finetuning
):
    viewer = make_staff("vic", "view_finetuning", "change_finetuning")
    old = make_finetuning(connection, status=FinetuningStatus.FAILED)

    page = logged_in(viewer).get(change_url(old))
    start_again(logged_in(viewer), old)

    assert "Start again with the same golden records" not in page.text
    assert Finetuning.objects.count() == 1
