"""Worker leases: a claim takes only free jobs, up to its limit; giving leases back and
recording a poll touch only the jobs this worker holds."""

from datetime import timedelta

from django.utils import timezone

from finetunings.models import Finetuning, ProviderPause
from finetunings.services.leases import claim, finetuning_record_polled, finetuning_release


def jobs(connection, make_finetuning, count):
    return [make_finetuning(connection, alias=f"job{index}") for index in range(count)]


def mine_and_theirs(connection, make_finetuning):
    """Two jobs: one leased to this worker ("me"), one to another."""
    mine, theirs = jobs(connection, make_finetuning, 2)
    Finetuning.objects.filter(pk=mine.pk).update(lease_owner="me")
    Finetuning.objects.filter(pk=theirs.pk).update(lease_owner="other")
    return mine, theirs


def leases(*jobs):
    rows = Finetuning.objects.filter(pk__in=[job.pk for job in jobs]).order_by("alias")
    return list(rows.values_list("alias", "lease_owner"))


def test_a_claim_takes_free_and_expired_leases_up_to_its_limit(
    connection, golden_records, make_finetuning
):
    held, expired, free, spare = jobs(connection, make_finetuning, 4)
    now = timezone.now()
    Finetuning.objects.filter(pk=held.pk).update(
        lease_owner="other", lease_until=now + timedelta(minutes=5)
    )
    Finetuning.objects.filter(pk=expired.pk).update(
        lease_owner="dead", lease_until=now - timedelta(seconds=1)
    )

    claimed = claim(worker_id="me", candidates=Finetuning.objects.order_by("alias"), limit=2)

    # RETURNING gives no order on PostgreSQL: the callers sort what they claimed.
    assert sorted(job.alias for job in claimed) == ["job1", "job2"]
    assert leases(held, expired, free, spare) == [
        ("job0", "other"),
        ("job1", "me"),
        ("job2", "me"),
        ("job3", None),
    ]


def test_nothing_is_claimed_for_a_provider_that_asked_everyone_to_wait(finetuning):
    ProviderPause.objects.create(
        provider=finetuning.model_provider, paused_until=timezone.now() + timedelta(minutes=1)
    )

    assert claim(worker_id="me", candidates=Finetuning.objects.all(), limit=5) == []
    assert leases(finetuning) == [(finetuning.alias, None)]


def test_giving_leases_back_leaves_other_workers_jobs_alone(
    connection, golden_records, make_finetuning
):
    mine, theirs = mine_and_theirs(connection, make_finetuning)

    finetuning_release(finetuning_ids=[mine.pk, theirs.pk], worker_id="me")

    assert leases(mine, theirs) == [("job0", None), ("job1", "other")]


def test_a_recorded_poll_stamps_and_frees_only_this_workers_jobs(
    connection, golden_records, make_finetuning
):
    mine, theirs = mine_and_theirs(connection, make_finetuning)

    finetuning_record_polled(finetuning_ids=[mine.pk, theirs.pk], worker_id="me")

    assert leases(mine, theirs) == [("job0", None), ("job1", "other")]
    polled = dict(Finetuning.objects.values_list("alias", "last_polled_at"))
    assert polled["job0"] is not None
    assert polled["job1"] is None
