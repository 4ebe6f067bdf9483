"""No stored row can make an API or admin page answer 500.

SQLite's JSON columns keep whatever JSON can spell, a lone surrogate included (PostgreSQL's
jsonb refuses it): such a row, written before the API refused it or by hand, must still be
listed and shown.
"""

from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from finetunings.models import DatabaseConnection, Finetuning, FinetuningEvent, GoldenRecord
from tests.helpers.admin import logged_in

POISON = {"\ud800": "v\udfff", "ok": "fine"}


@pytest.fixture
def poisoned(connection, golden_records, finetuning, is_postgres):
    if is_postgres:
        pytest.skip("PostgreSQL's jsonb refuses lone surrogates, so no row can hold one")
    DatabaseConnection.objects.filter(pk=connection.pk).update(metadata=POISON)
    GoldenRecord.objects.filter(pk=golden_records[0].pk).update(metadata=POISON)
    Finetuning.objects.filter(pk=finetuning.pk).update(
        metadata=POISON, training_summary=POISON, model_parameters=POISON
    )
    FinetuningEvent.objects.filter(finetuning=finetuning).update(data=POISON)
    return connection, golden_records[0], finetuning


def test_api_lists_and_details_show_a_row_holding_lone_surrogates(api, poisoned):
    connection, record, job = poisoned

    for url in [
        "/api/v1/database-connections",
        f"/api/v1/database-connections/{connection.pk}",
        "/api/v1/golden-records",
        f"/api/v1/golden-records/{record.pk}",
        "/api/v1/finetunings",
        f"/api/v1/finetunings/{job.pk}",
        f"/api/v1/finetunings/{job.pk}/events",
    ]:
        response = api.get(url)
        assert response.status_code == HTTPStatus.OK, url
        assert "\ufffd" in response.content.decode(), url


def test_admin_pages_show_a_row_holding_lone_surrogates(db, poisoned):
    connection, record, job = poisoned
    client = logged_in(
        get_user_model().objects.create_superuser(username="root", password="a-long-pw-4242")
    )

    for model, pk in [
        ("databaseconnection", connection.pk),
        ("goldenrecord", record.pk),
        ("finetuning", job.pk),
    ]:
        changelist = client.get(reverse(f"admin:finetunings_{model}_changelist"))
        change = client.get(reverse(f"admin:finetunings_{model}_change", args=[pk]))
        assert changelist.status_code == HTTPStatus.OK, model
        assert change.status_code == HTTPStatus.OK, model
