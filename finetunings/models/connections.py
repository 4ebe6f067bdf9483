"""Where questions come from: database connections and their golden records."""

from django.db import models
from django.db.models import Q

from finetunings import crypto, validation
from finetunings.models.base import StoredJSONField, new_id


class Dialect(models.TextChoices):
    POSTGRESQL = "postgresql", "PostgreSQL"
    MYSQL = "mysql", "MySQL"
    SQLITE = "sqlite", "SQLite"
    SNOWFLAKE = "snowflake", "Snowflake"
    BIGQUERY = "bigquery", "BigQuery"
    MSSQL = "mssql", "Microsoft SQL Server"
    REDSHIFT = "redshift", "Amazon Redshift"
    DATABRICKS = "databricks", "Databricks"
    ORACLE = "oracle", "Oracle"
    DUCKDB = "duckdb", "DuckDB"
    CLICKHOUSE = "clickhouse", "ClickHouse"


class DatabaseConnectionQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)


class DatabaseConnection(models.Model):
    """A database whose questions a fine-tuned model will answer.

    Deleting one keeps the row (its fine-tuning jobs are history that must keep pointing
    somewhere) but wipes its secret, frees its alias and removes its golden records.
    """

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    alias = models.CharField(max_length=100)
    dialect = models.CharField(max_length=20, choices=Dialect.choices)
    connection_uri_encrypted = models.TextField(blank=True, default="", editable=False)
    schema = models.TextField(
        blank=True,
        default="",
        help_text="DDL and descriptions of the tables; included in every training example.",
    )
    metadata = StoredJSONField(null=True, blank=True)
    # Whether evaluations may run SQL on this database (read-only, with a timeout and a row
    # cap); off, they score by exact match only. Off by default: it is the owner's database.
    allow_execution = models.BooleanField(
        "allow evaluation queries",
        default=False,
        help_text="Let evaluations run the gold and the generated SELECTs on this database "
        "(read-only transaction, statement timeout, row cap) to compare their results. "
        "Off: evaluations score by exact match of the SQL only.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = DatabaseConnectionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "database connection"
        constraints = [
            models.UniqueConstraint(
                fields=["alias"],
                condition=Q(deleted_at__isnull=True),
                name="unique_alias_of_live_connection",
            )
        ]

    def __str__(self) -> str:
        return self.alias

    @property
    def connection_uri(self) -> str:
        if not self.connection_uri_encrypted:
            return ""
        return crypto.decrypt(self.connection_uri_encrypted)

    @connection_uri.setter
    def connection_uri(self, value: str) -> None:
        self.connection_uri_encrypted = crypto.encrypt(value) if value else ""

    @property
    def masked_connection_uri(self) -> str:
        """The URI showing only its scheme, hosts, ports and database (see validation)."""
        return validation.mask_connection_uri(self.connection_uri)


class GoldenRecord(models.Model):
    """A verified pair of a natural-language question and the SQL that answers it."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    db_connection = models.ForeignKey(
        DatabaseConnection, on_delete=models.CASCADE, related_name="golden_records"
    )
    question = models.TextField()
    sql = models.TextField()
    metadata = StoredJSONField(null=True, blank=True)
    # The record's id where it was kept before (a spreadsheet row, Dataherald's id): an
    # import that names it again updates this record instead of adding a duplicate.
    external_id = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "golden record"
        indexes = [models.Index(fields=["db_connection", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["db_connection", "external_id"],
                condition=Q(external_id__isnull=False),
                name="unique_external_id_per_connection",
            )
        ]

    def __str__(self) -> str:
        return self.question[:80]
