"""Rate limits per API key and per staff user: 429 in the error shape, with Retry-After."""

import pickle
import sys
from http import HTTPStatus

import pytest
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.throttling import UserRateThrottle

from finetunings import services
from finetunings.api import throttling
from finetunings.api.authentication import APIKeyUser
from finetunings.errors import ErrorCode
from tests.helpers.admin import logged_in
from tests.helpers.threads import run_at_once

WINDOW_START = 60 * 29_000_000.0  # a minute's boundary


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**api_settings.DEFAULT_THROTTLE_RATES, **rates},
        }

    return set_rates


@pytest.fixture
def clock(monkeypatch):
    """The throttle's time, moved by the test: half-way through a minute to begin with."""

    class Clock:
        now = WINDOW_START + 30

        def __call__(self):
            return self.now

        def advance(self, seconds):
            self.now += seconds

    fake = Clock()
    monkeypatch.setattr(throttling, "time", fake)
    return fake


@pytest.fixture
def threads_switch_often():
    """Threads interleave inside a request's cache calls, where a read-then-write loses counts."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def key_request(api_key):
    """What the API key throttle sees of a request made with ``api_key``."""
    request = Request(APIRequestFactory().get("/api/v1/finetunings"))
    request.auth = api_key
    return request


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


def test_concurrent_requests_are_all_counted(api, api_key, rates, clock, threads_switch_often):
    rates(api_key="200/min")
    request = key_request(api_key[0])
    answers = []

    def send_ten(_):
        answers.extend(
            throttling.APIKeyRateThrottle().allow_request(request, None) for _ in range(10)
        )

    failures = run_at_once(send_ten, arguments=range(20))

    assert failures == []
    assert answers == [True] * 200
    assert api.get("/api/v1/finetunings").status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_requests_racing_for_the_last_places_get_only_as_many_as_the_budget_has(
    api_key, rates, clock, threads_switch_often
):
    rates(api_key="5/min")
    request = key_request(api_key[0])
    answers = []

    failures = run_at_once(
        lambda _: answers.append(throttling.APIKeyRateThrottle().allow_request(request, None)),
        arguments=range(20),
    )

    assert failures == []
    assert sorted(answers) == [False] * 15 + [True] * 5


def test_the_cache_holds_one_small_integer_per_window_whatever_the_rate(api_key, rates, clock):
    rates(api_key="1000000/min")
    request = key_request(api_key[0])

    for _ in range(2):
        for _ in range(250):
            assert throttling.APIKeyRateThrottle().allow_request(request, None)
        clock.advance(60)

    stored = [pickle.loads(value) for value in cache._cache.values()]
    assert stored == [250, 250]


def test_a_burst_at_the_end_of_a_window_still_counts_after_the_boundary(api, rates, clock):
    rates(api_key="10/min")
    clock.advance(20)  # 10 s before the boundary

    before = [api.get("/api/v1/finetunings").status_code for _ in range(11)]
    clock.advance(11)  # 1 s after it
    after = [api.get("/api/v1/finetunings").status_code for _ in range(10)]

    assert before == [HTTPStatus.OK] * 10 + [HTTPStatus.TOO_MANY_REQUESTS]
    assert after == [HTTPStatus.OK] + [HTTPStatus.TOO_MANY_REQUESTS] * 9


def test_two_windows_later_the_whole_budget_is_back(api, rates, clock):
    rates(api_key="3/min")
    [api.get("/api/v1/finetunings") for _ in range(3)]

    clock.advance(90)  # into the window after the next one

    assert [api.get("/api/v1/finetunings").status_code for _ in range(3)] == [HTTPStatus.OK] * 3


@pytest.mark.parametrize(
    ("previous_window", "seconds_later"),
    [(0, 0), (3, 40), (2, 40), (1, 55)],
    ids=["one window", "3 in the last one", "2 in the last one", "1 in the last one"],
)
def test_a_request_after_retry_after_seconds_is_accepted(
    api, rates, clock, previous_window, seconds_later
):
    rates(api_key="3/min")
    [api.get("/api/v1/finetunings") for _ in range(previous_window)]
    clock.advance(seconds_later)

    answers = [api.get("/api/v1/finetunings") for _ in range(4)]
    refused = next(a for a in answers if a.status_code == HTTPStatus.TOO_MANY_REQUESTS)
    wait = int(refused["Retry-After"])
    clock.advance(wait)

    assert 1 <= wait <= 60
    assert (
        refused.json()["detail"] == f"Request was throttled. Expected available in {wait} seconds."
    )
    assert api.get("/api/v1/finetunings").status_code == HTTPStatus.OK
