"""Staff users with and without the cancel permission, logged in to the admin, and a real
browser (Debian's Chromium) for the browser tests."""

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from tests.admin.helpers import logged_in
from tests.helpers import browser

PASSWORD = "a-long-test-password-42"


@pytest.fixture
def make_staff(db, django_user_model):
    def make(username, *codenames):
        user = django_user_model.objects.create_user(
            username=username, password=PASSWORD, is_staff=True
        )
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="finetunings", codename__in=codenames)
        )
        return user

    return make


@pytest.fixture
def canceller(make_staff):
    """A staff member who may look at jobs and cancel them."""
    return make_staff("cora", "view_finetuning", "cancel_finetuning")


@pytest.fixture
def canceller_client(canceller):
    return logged_in(canceller)


@pytest.fixture
def viewer_client(make_staff):
    """A staff member who may look at jobs, but not cancel them."""
    return logged_in(make_staff("vic", "view_finetuning"))


@pytest.fixture
def editor_client(make_staff):
    """May edit a job's alias and metadata, but not cancel it."""
    return logged_in(make_staff("eddie", "view_finetuning", "change_finetuning"))


@pytest.fixture
def superuser_client(db, django_user_model):
    return logged_in(django_user_model.objects.create_superuser(username="root", password=PASSWORD))


@pytest.fixture
def chromium():
    path = shutil.which(browser.CHROMIUM) or (
        browser.CHROMIUM if Path(browser.CHROMIUM).is_file() else None
    )
    if path is None:
        reason = (
            f"Chromium not found at {browser.CHROMIUM}: install it with scripts/install-browser"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the browser tests)")
        pytest.skip(reason)
    return path


@pytest.fixture
def staff_member(transactional_db, django_user_model):
    """The browser's user: may look at jobs and cancel them."""
    user = django_user_model.objects.create_user(
        username=browser.USERNAME, password=browser.PASSWORD, is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_finetuning", "cancel_finetuning"])
    )
    return user


@pytest.fixture
def in_browser(chromium, live_server, staff_member):
    """``in_browser(scenario)`` runs ``scenario(page)`` logged in to the admin;
    ``in_browser.start(scenario)`` runs it in the background (see ``browser.Handshake``)."""
    return browser.BrowserRunner(chromium, live_server.url)
