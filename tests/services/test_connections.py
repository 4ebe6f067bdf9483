"""The connection services: deleting a connection while jobs or golden records are created on
it (one wins, cleanly), concurrent edits, and fields an update may not change."""

import threading

import pytest
from django.db import connections

from finetunings import errors, services
from finetunings.models import (
    ACTIVE_STATUSES,
    DatabaseConnection,
    Finetuning,
    GoldenRecord,
)
from tests.helpers.threads import ROUNDS, assert_field_and_metadata_patches_both_survive


def race(*actions):
    """Run the actions at the same moment, each in its own thread and database connection."""
    barrier = threading.Barrier(len(actions))
    outcomes: list = [None] * len(actions)

    def run(index, action):
        try:
            barrier.wait()
            outcomes[index] = action()
        except errors.DomainError as exc:
            outcomes[index] = exc
        except Exception as exc:  # a thread's failure must fail the test, not vanish
            outcomes[index] = repr(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(index, action)) for index, action in enumerate(actions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def records_for(connection, count):
    return [
        {
            "db_connection_id": connection.pk,
            "question": f"How many orders above {i}?",
            "sql": f"SELECT count(*) FROM orders WHERE total > {i}",
        }
        for i in range(count)
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_job_created_while_its_connection_is_deleted_never_outlives_it(
    make_connection, make_golden_records
):
    for round_ in range(ROUNDS):
        connection = make_connection(alias=f"race{round_}")
        make_golden_records(connection, count=10)

        created, deleted = race(
            lambda connection=connection: services.finetuning_create(
                db_connection_id=connection.pk, actor="test"
            ),
            lambda connection=connection: services.database_connection_delete(
                connection=connection
            ),
        )

        assert not isinstance(created, str), created
        assert not isinstance(deleted, str), deleted
        gone = DatabaseConnection.objects.get(pk=connection.pk).deleted_at is not None
        active = Finetuning.objects.filter(db_connection=connection, status__in=ACTIVE_STATUSES)
        # Exactly one of the two won: a deleted connection with no active job, or a job
        # whose connection stays (its delete answered "in use").
        if gone:
            assert not active.exists(), f"round {round_}: an active job on a deleted connection"
            assert isinstance(created, errors.ValidationFailed)
        else:
            assert isinstance(deleted, errors.ConnectionInUse)
            assert active.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_golden_records_created_while_their_connection_is_deleted_are_not_kept(
    make_connection,
):
    for round_ in range(ROUNDS):
        connection = make_connection(alias=f"race{round_}")

        created, deleted = race(
            lambda connection=connection: services.golden_records_create(
                records=records_for(connection, 200)
            ),
            lambda connection=connection: services.database_connection_delete(
                connection=connection
            ),
        )

        assert not isinstance(created, str), created
        assert deleted is None
        kept = GoldenRecord.objects.filter(db_connection=connection).count()
        assert kept == 0, f"round {round_}: {kept} records on a deleted connection"


def test_a_connection_update_refuses_a_field_its_owner_does_not_own(connection):
    with pytest.raises(TypeError, match="deleted_at"):
        services.database_connection_update(connection=connection, deleted_at=None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_of_schema_and_metadata_of_a_connection_both_survive(
    connection, api_key
):
    assert_field_and_metadata_patches_both_survive(
        connection,
        f"/api/v1/database-connections/{connection.pk}",
        "schema",
        lambda round_: f"CREATE TABLE t{round_} (id int);",
        api_key[1],
    )
