"""Chunked request bodies (no Content-Length) at the WSGI entry point gunicorn serves."""

import io
import json
from http import HTTPStatus

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from finetuning_project.wsgi import application
from finetunings.errors import ErrorCode
from finetunings.models import DatabaseConnection

BODY = json.dumps(
    {"alias": "chunked", "dialect": "postgresql", "connection_uri": "postgresql://u:p@h/d"}
).encode()


@pytest.fixture
def call(api_key):
    """Calls the WSGI application as a server would, inside the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)

    def call(body: bytes, **environ):
        base = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/database-connections",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": "application/json",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {api_key[1]}",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": io.StringIO(),
        }
        started = {}

        def start_response(status, headers, exc_info=None):
            started["status"] = int(status.split()[0])

        content = b"".join(application({**base, **environ}, start_response))
        return started["status"], json.loads(content)

    yield call
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_a_chunked_body_the_server_has_decoded_is_read_whole(call):
    # gunicorn decodes chunked bodies and says so with wsgi.input_terminated.
    status, body = call(BODY, **{"wsgi.input_terminated": True})

    assert status == HTTPStatus.CREATED
    assert body["alias"] == "chunked"
    assert DatabaseConnection.objects.filter(alias="chunked").exists()


def test_a_chunked_body_the_server_cannot_end_is_a_411_saying_why(call):
    # runserver (wsgiref) passes the raw chunked stream with no end marker.
    status, body = call(BODY)

    assert status == HTTPStatus.LENGTH_REQUIRED
    assert body["code"] == ErrorCode.LENGTH_REQUIRED
    assert "Content-Length" in body["detail"]
    assert not DatabaseConnection.objects.exists()


def test_a_chunked_body_over_the_size_limit_is_a_413(call, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    status, body = call(BODY + b" " * 200, **{"wsgi.input_terminated": True})

    assert status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert body["code"] == ErrorCode.REQUEST_TOO_LARGE
    assert not DatabaseConnection.objects.exists()
