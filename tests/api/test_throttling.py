"""Rate limits per API key and per staff user: 429 in the error shape, with Retry-After."""

from http import HTTPStatus

import pytest
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.throttling import UserRateThrottle

from finetunings import services
from finetunings.api.authentication import APIKeyUser
from finetunings.errors import ErrorCode
from tests.helpers.admin import logged_in


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**api_settings.DEFAULT_THROTTLE_RATES, **rates},
        }

    return set_rates


def client_for(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def test_an_api_key_over_its_rate_gets_429_with_retry_after_in_the_error_shape(api, rates):
    rates(api_key="3/min")

    answers = [api.get("/api/v1/finetunings") for _ in range(4)]

    assert [a.status_code for a in answers[:3]] == [HTTPStatus.OK] * 3
    throttled = answers[3]
    assert throttled.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert throttled.json()["code"] == ErrorCode.THROTTLED
    assert throttled.json()["detail"].startswith("Request was throttled.")
    assert 0 < int(throttled["Retry-After"]) <= 60


def test_each_api_key_has_its_own_budget(api, rates, db):
    rates(api_key="1/min")
    _, other_key = services.api_key_create(name="other")

    assert api.get("/api/v1/finetunings").status_code == HTTPStatus.OK
    assert api.get("/api/v1/finetunings").status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert client_for(other_key).get("/api/v1/finetunings").status_code == HTTPStatus.OK


def test_a_staff_session_has_its_own_rate(rates, db, django_user_model):
    rates(staff="2/min", api_key="1000/min")
    staff = django_user_model.objects.create_superuser(username="root", password="pw-123456789")
    client = logged_in(staff)

    codes = [
        client.get("/api/v1/finetunings", HTTP_ACCEPT="application/json").status_code
        for _ in range(3)
    ]

    assert codes == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]


def test_djangos_user_rate_throttle_counts_an_api_key_by_its_id(api_key):
    # It used to fail (a 500): 'APIKeyUser' object has no attribute 'pk'.
    class OnePerMinute(UserRateThrottle):
        rate = "1/min"

    request = Request(APIRequestFactory().get("/api/v1/finetunings"))
    request.user = APIKeyUser(api_key[0])

    assert OnePerMinute().allow_request(request, None)
    assert not OnePerMinute().allow_request(request, None)
    assert str(api_key[0].pk) in OnePerMinute().get_cache_key(request, None)


def test_an_unreachable_cache_does_not_take_the_api_down(api, rates, settings, caplog):
    rates(api_key="1/min")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }

    answers = [api.get("/api/v1/finetunings").status_code for _ in range(2)]

    assert answers == [HTTPStatus.OK, HTTPStatus.OK]
    assert "Rate limit not applied" in caplog.text
