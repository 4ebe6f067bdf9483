"""The job list's filtered pages are read newest first from an index, with no sort.

The plans are asked of the database itself (EXPLAIN of the query the list runs). A few
rows would make a sequential scan the cheapest plan on PostgreSQL, so scans are disabled
there: the question is which index serves the query, and whether it still needs a sort.
"""

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from finetunings.models import Finetuning, FinetuningStatus

URL = "/api/v1/finetunings"


def list_query(api, params) -> str:
    with CaptureQueriesContext(db_connection) as captured:
        assert api.get(URL, params).status_code == 200
    table = Finetuning._meta.db_table
    (sql,) = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].startswith("SELECT") and f'FROM "{table}"' in query["sql"]
    ]
    return sql


def plan(sql: str) -> str:
    with transaction.atomic(), db_connection.cursor() as cursor:
        if db_connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


@pytest.fixture
def jobs(connection, golden_records, make_finetuning):
    for status in (FinetuningStatus.QUEUED, FinetuningStatus.RUNNING, FinetuningStatus.FAILED):
        make_finetuning(connection, status=status)


@pytest.mark.parametrize(
    ("filter_name", "index"),
    [("db_connection_id", "ft_connection_newest"), ("status", "ft_status_newest")],
)
def test_a_filtered_page_reads_its_filters_index_newest_first_without_sorting(
    api, connection, jobs, filter_name, index
):
    value = connection.pk if filter_name == "db_connection_id" else "running"

    query_plan = plan(list_query(api, {filter_name: value, "limit": 100}))

    assert index in query_plan
    assert "TEMP B-TREE" not in query_plan.upper()
    assert "Sort" not in query_plan
