"""What the API tests share: a 400 that names the field, metadata PostgreSQL cannot store,
a cancel posted through the API, and how a cancel the provider made without our record
of it looks once the worker's refresh has caught up."""

from http import HTTPStatus

from finetunings.errors import CANCELLED_BY_USER_MESSAGE, ErrorCode
from finetunings.models import Finetuning, FinetuningStatus

NUL_KEY_METADATA = {"team\u0000": "growth"}


def assert_400_naming(response, field):
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content[:300]
    body = response.json()
    assert body["code"] == ErrorCode.VALIDATION
    assert any(name == field or name.startswith(f"{field}.") for name in body["errors"]), body


def post_cancel(api, finetuning, **body):
    """Cancel ``finetuning`` through the API, with ``body`` as the request's fields."""
    return api.post(f"/api/v1/finetunings/{finetuning.pk}/cancel", body, format="json")


def cancelled_after_the_next_refresh(job, make_due, run_pass) -> Finetuning:
    """``job`` once the worker's next refresh has seen the provider's cancel: recorded as
    the user's (cancelled, with the user's error and a time), not as the provider's doing."""
    make_due(job)
    run_pass()

    job = Finetuning.objects.get(pk=job.pk)
    assert job.status == FinetuningStatus.CANCELLED
    assert job.error == CANCELLED_BY_USER_MESSAGE
    assert job.cancelled_at is not None
    return job
