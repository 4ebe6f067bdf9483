"""Fixtures the review's tests share with the worker and admin tests."""

from tests.admin.conftest import (  # noqa: F401
    canceller,
    canceller_client,
    editor_client,
    make_staff,
    superuser_client,
    viewer_client,
)
from tests.worker.conftest import make_due, run_pass  # noqa: F401
