"""Fixtures shared by the whole suite."""

import pytest
from django.core.cache import cache
from django.db import connection as db_connection
from rest_framework.test import APIClient

from finetunings import services
from finetunings.models import Finetuning, FinetuningStatus
from finetunings.providers import reset_providers
from tests.fakes import memory_provider

# Fixtures for tests that drive the real OpenAI SDK against the fake OpenAI server, and
# staff users with given permissions (the admin and API tests both use them).
pytest_plugins = ["tests.fakes.openai_fixtures", "tests.helpers.staff"]


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` need real row locks and concurrency: skip them on SQLite."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); see .ci/run")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, no_network):
    """No test writes kept files into the project or reaches beyond loopback."""
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()  # rate-limit counters of an earlier test must not throttle this one


@pytest.fixture(autouse=True)
def provider(settings):
    """Every test talks to a fresh in-memory provider unless it installs another one."""
    fake = memory_provider.InMemoryProvider()
    memory_provider.install(fake)
    settings.FINETUNING_PROVIDERS = {"openai": "tests.fakes.memory_provider.current"}
    reset_providers()
    yield fake
    reset_providers()
    memory_provider.install(None)


@pytest.fixture
def api_key(db):
    return services.api_key_create(name="test-client")


@pytest.fixture
def api(api_key):
    """An API client authenticated with a fresh API key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    return client


@pytest.fixture
def anonymous_api():
    return APIClient()


SCHEMA_DDL = "CREATE TABLE orders (id integer primary key, customer text, total numeric);"


# A URI whose scheme fits each dialect (the service checks that it does).
URI_OF_DIALECT = {
    "postgresql": "postgresql://reader:s3cret@db.internal:5432/shop",
    "redshift": "redshift://reader:s3cret@cluster.internal:5439/shop",
    "sqlite": "sqlite:////var/lib/shop.db",
    "duckdb": "duckdb:////var/lib/shop.duckdb",
    "bigquery": "bigquery://project/shop",
}


@pytest.fixture
def make_connection(db):
    counter = iter(range(1, 10_000))

    def make(**overrides):
        dialect = overrides.get("dialect", "postgresql")
        fields = {
            "alias": f"shop{next(counter)}",
            "dialect": dialect,
            "connection_uri": URI_OF_DIALECT.get(
                dialect, f"{dialect}://reader:s3cret@db.internal/shop"
            ),
            "schema": SCHEMA_DDL,
            **overrides,
        }
        return services.database_connection_create(**fields)

    return make


@pytest.fixture
def connection(make_connection):
    return make_connection(alias="shop")


@pytest.fixture
def make_golden_records(db):
    def make(connection, count=10):
        return services.golden_records_create(
            records=[
                {
                    "db_connection_id": connection.pk,
                    "question": f"How many orders are above {i * 10} dollars?",
                    "sql": f"SELECT count(*) FROM orders WHERE total > {i * 10}",
                }
                for i in range(count)
            ]
        )

    return make


@pytest.fixture
def golden_records(connection, make_golden_records):
    return make_golden_records(connection, count=12)


@pytest.fixture
def make_finetuning(db):
    """A job in any status, as the worker and the provider would have left it."""

    def make(connection, status=FinetuningStatus.QUEUED, **fields):
        finetuning = services.finetuning_create(
            db_connection_id=connection.pk, actor="test", alias=fields.pop("alias", None)
        )
        if status != FinetuningStatus.QUEUED or fields:
            Finetuning.objects.filter(pk=finetuning.pk).update(status=status, **fields)
            finetuning.refresh_from_db()
        return finetuning

    return make


@pytest.fixture
def finetuning(connection, golden_records, make_finetuning):
    return make_finetuning(connection)


@pytest.fixture
def is_postgres():
    return db_connection.vendor == "postgresql"
