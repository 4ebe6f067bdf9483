"""Staff users with given permissions, logged in to the admin; conftests import these fixtures."""

import pytest
from django.contrib.auth.models import Permission

from tests.helpers.admin import logged_in

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
