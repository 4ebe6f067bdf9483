"""Fixtures the review's tests share with the worker tests."""

from tests.worker.conftest import make_due, run_pass  # noqa: F401
