"""Small helpers for the admin tests: URLs, logged-in clients, the messages a page shows."""

from django.conf import settings
from django.contrib.admin.options import ActionLocation
from django.test import Client
from django.urls import reverse

# The field under which a job's page posts its actions (Django's change-form actions).
CHANGE_FORM_ACTION = f"{ActionLocation.CHANGE_FORM.value}-action"
SECRET = "s3cret"  # the password in the fixtures' connection URI


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def changelist_url(model_name: str = "finetuning") -> str:
    return reverse(f"admin:finetunings_{model_name}_changelist")


def change_url(obj, model_name: str = "finetuning") -> str:
    return reverse(f"admin:finetunings_{model_name}_change", args=[obj.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def message_levels(response) -> list[str]:
    return [message.level_tag for message in response.context["messages"]]


def connection_form(connection, **changes):
    """A connection's change form as posted, with ``changes`` applied."""
    return {
        "alias": connection.alias,
        "dialect": connection.dialect,
        "connection_uri": "",
        "schema": connection.schema,
        "metadata": "null",
        **changes,
    }


def job_add_form(connection, **overrides):
    """The blank job form as posted (every golden record, the default model), with overrides."""
    return {
        "db_connection": connection.pk,
        "alias": "",
        "model_provider": settings.FINETUNING_DEFAULT_PROVIDER,
        "model_name": settings.FINETUNING_DEFAULT_MODEL,
        "golden_records": "",
        "validation_golden_records": "",
        "validation_fraction": "",
        "metadata": "",
        **overrides,
    }
