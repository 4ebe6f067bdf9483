"""Fixtures the API tests share with the admin tests: staff users with given permissions."""

from tests.admin.conftest import make_staff  # noqa: F401
