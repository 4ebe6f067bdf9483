"""The API's root as a newcomer finds it: what the API is, and how to log in."""

import html
import json
import re
from http import HTTPStatus

from tests.helpers.staff import PASSWORD


def test_the_root_says_what_the_api_is_and_links_to_the_login(anonymous_api, db):
    page = anonymous_api.get("/api/v1/", HTTP_ACCEPT="text/html")

    assert page.status_code == HTTPStatus.OK
    text = page.content.decode()
    assert "Fine-tuning jobs API" in text
    assert "natural-language-to-SQL" in text
    assert "The default basic root view" not in text
    assert "href='/api-auth/login/?next=/api/v1/'>Log in</a>" in text


def test_the_root_lists_the_routes_in_json_without_credentials(anonymous_api, db):
    response = anonymous_api.get("/api/v1/", HTTP_ACCEPT="application/json")

    assert response.status_code == HTTPStatus.OK
    assert set(response.json()) >= {"finetunings", "golden-records", "database-connections"}


def test_every_other_route_still_needs_credentials(anonymous_api, db):
    response = anonymous_api.get("/api/v1/finetunings", HTTP_ACCEPT="application/json")

    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_a_staff_member_can_log_in_from_the_browsable_api(client, make_staff):
    make_staff("sam", "view_finetuning")

    response = client.post(
        "/api-auth/login/", {"username": "sam", "password": PASSWORD, "next": "/api/v1/"}
    )
    listed = client.get("/api/v1/finetunings", HTTP_ACCEPT="application/json")

    assert response.status_code == HTTPStatus.FOUND
    assert listed.status_code == HTTPStatus.OK


def test_the_browsable_cancel_page_shows_the_job_and_no_error(api, finetuning):
    page = api.get(f"/api/v1/finetunings/{finetuning.pk}/cancel", HTTP_ACCEPT="text/html")

    assert page.status_code == HTTPStatus.OK
    text = page.content.decode()
    assert "not allowed" not in text
    assert "Press POST below to cancel this job" in text
    assert finetuning.alias in text


def test_a_get_of_the_cancel_route_is_still_a_405_for_json_clients(api, finetuning):
    response = api.get(
        f"/api/v1/finetunings/{finetuning.pk}/cancel", HTTP_ACCEPT="application/json"
    )

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED


def raw_form(api, url):
    text = api.get(url, HTTP_ACCEPT="text/html").content.decode()
    (content,) = re.findall(r'<textarea[^>]*name="_content"[^>]*>(.*?)</textarea>', text, re.S)
    return json.loads(html.unescape(content))


def test_the_pre_filled_forms_work_when_posted_as_they_are(api, connection, golden_records):
    connection_body = raw_form(api, "/api/v1/database-connections")
    record_body = raw_form(api, "/api/v1/golden-records")
    job_body = raw_form(api, "/api/v1/finetunings")

    assert (
        api.post("/api/v1/database-connections", connection_body, format="json").status_code == 201
    )
    assert api.post("/api/v1/golden-records", record_body, format="json").status_code == 201
    created = api.post("/api/v1/finetunings", job_body, format="json")
    assert created.status_code == 201
    assert len(created.json()["golden_records"]) == len(golden_records) + 1  # all, not none
    cancel_url = f"/api/v1/finetunings/{created.json()['id']}/cancel"
    cancel_body = raw_form(api, cancel_url)
    assert api.post(cancel_url, cancel_body, format="json").status_code == 200
