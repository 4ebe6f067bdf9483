"""Database connections: create, edit, delete (which keeps the row and wipes its secret)."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from finetunings import errors, validation
from finetunings.models import DatabaseConnection
from finetunings.services.base import raise_if, refuse_unknown_fields

ALIAS_TAKEN_MESSAGE = "A database connection with this alias already exists."
# What an update may change; the URI is stored encrypted.
DATABASE_CONNECTION_EDITABLE_FIELDS = frozenset(
    {"alias", "dialect", "connection_uri", "schema", "metadata", "allow_execution"}
)


def _alias_taken(alias: str, *, exclude_id: str | None = None) -> bool:
    qs = DatabaseConnection.objects.alive().filter(alias=alias)
    if exclude_id:
        qs = qs.exclude(pk=exclude_id)
    return qs.exists()


def database_connection_create(
    *,
    alias: str,
    dialect: str,
    connection_uri: str,
    schema: str = "",
    metadata=None,
    allow_execution: bool = False,
) -> DatabaseConnection:
    raise_if(
        {
            "alias": [ALIAS_TAKEN_MESSAGE] if _alias_taken(alias) else [],
            "connection_uri": validation.connection_uri_problems(connection_uri, dialect),
            "metadata": validation.metadata_problems(metadata),
        }
    )
    connection = DatabaseConnection(
        alias=alias,
        dialect=dialect,
        schema=schema,
        metadata=metadata,
        allow_execution=allow_execution,
    )
    connection.connection_uri = connection_uri
    try:
        connection.save()
    except IntegrityError:  # lost a race for the alias
        raise errors.ValidationFailed({"alias": [ALIAS_TAKEN_MESSAGE]}) from None
    return connection


def database_connection_update(*, connection: DatabaseConnection, **changes) -> DatabaseConnection:
    """Change the given fields, and only those, so a concurrent edit of others survives."""
    refuse_unknown_fields(changes, DATABASE_CONNECTION_EDITABLE_FIELDS, what="database connection")
    with transaction.atomic():
        # Checked against the row as it is now (a concurrent edit may have changed the
        # dialect or the URI whose fit is checked), and locked until written.
        connection = (
            DatabaseConnection.objects.alive().select_for_update().filter(pk=connection.pk).first()
        )
        if connection is None:
            raise errors.DeletedMeanwhile("database connection")
        problems = {}
        if "alias" in changes and _alias_taken(changes["alias"], exclude_id=connection.pk):
            problems["alias"] = [ALIAS_TAKEN_MESSAGE]
        if "metadata" in changes:
            problems["metadata"] = validation.metadata_problems(changes["metadata"])
        if "connection_uri" in changes or "dialect" in changes:
            # Either one can break their fit: a new dialect is checked against the stored URI.
            problems["connection_uri"] = validation.connection_uri_problems(
                changes.get("connection_uri", connection.connection_uri),
                changes.get("dialect", connection.dialect),
            )
        raise_if(problems)
        if not changes:
            return connection
        for field, value in changes.items():
            setattr(connection, field, value)  # connection_uri goes through the encrypting setter
        columns = {"connection_uri_encrypted" if f == "connection_uri" else f for f in changes}
        try:
            connection.save(update_fields=[*sorted(columns), "updated_at"])
        except IntegrityError:
            raise errors.ValidationFailed({"alias": [ALIAS_TAKEN_MESSAGE]}) from None
    return connection


def lock_alive_connections(connection_ids) -> set[str]:
    """Lock the rows of the given connections that are not deleted; return their ids.

    Called inside the transaction that writes what depends on them (a job, golden records):
    ``database_connection_delete`` takes the same row lock, so a check made here still
    holds when the write commits. (On SQLite, whose transactions here take the write lock
    when they begin, the transaction alone serialises them.)
    """
    return set(
        DatabaseConnection.objects.alive()
        .select_for_update()
        .filter(pk__in=connection_ids)
        .order_by("pk")  # one locking order for every caller: no deadlocks
        .values_list("pk", flat=True)
    )


def no_connection(connection_id) -> list[str]:
    return [f"No database connection with id {connection_id!r}."]


def database_connection_delete(*, connection: DatabaseConnection) -> None:
    """Delete a connection that has no active job.

    The row stays (its jobs are history and keep their ``db_connection_id``) but its secret
    is wiped, its alias is freed and its golden records are deleted. The row lock makes
    this one step with respect to creating jobs and golden records on the connection.
    """
    with transaction.atomic():
        locked = DatabaseConnection.objects.select_for_update().get(pk=connection.pk)
        if locked.finetunings.active().exists():
            raise errors.ConnectionInUse()
        locked.golden_records.all().delete()
        DatabaseConnection.objects.filter(pk=locked.pk).update(
            deleted_at=timezone.now(), connection_uri_encrypted=""
        )
