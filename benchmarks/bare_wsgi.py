"""The bare floor: a minimal WSGI application running the same raw query, no Django request.

Django is set up only for its database connection (the same settings and database as the
product); each request is one raw query and json.dumps.
"""

import os
from urllib.parse import parse_qs

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetuning_project.settings")
django.setup()

from benchmarks import _floors  # noqa: E402

PREFIX = "/finetunings"


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == PREFIX:
        limit = int(parse_qs(environ.get("QUERY_STRING", "")).get("limit", ["50"])[0])
        body = _floors.job_page(limit=limit)
    elif path.startswith(PREFIX + "/"):
        body = _floors.job_one(path[len(PREFIX) + 1 :])
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
