"""Middleware for operations: probe and metrics routes, and the context of each request."""

import hmac
import re
import uuid
from http import HTTPStatus

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from finetunings.errors import METRICS_OFF_MESSAGE, ErrorCode
from finetunings.ops import context, health, metrics

HEALTH_PATHS = frozenset({"/healthz", "/healthz/"})
READY_PATHS = frozenset({"/readyz", "/readyz/"})
METRICS_PATHS = frozenset({"/metrics", "/metrics/"})
METRICS_TOKEN_MESSAGE = "The metrics need 'Authorization: Bearer <FINETUNING_METRICS_TOKEN>'."
REQUEST_ID_HEADER = "X-Request-ID"
# A client's (or the proxy's) request id is kept only if it is short and harmless in logs.
_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
# Metric labels must stay few: any other method is counted as "other".
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class OpsEndpointsMiddleware:
    """/healthz, /readyz and /metrics, answered before anything else.

    Load balancers and Prometheus reach processes by address and over plain HTTP, so these
    answers must not depend on ALLOWED_HOSTS, the HTTPS redirect, sessions or CSRF.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("GET", "HEAD"):
            if request.path in HEALTH_PATHS:
                return JsonResponse({"status": "ok"})
            if request.path in READY_PATHS:
                return self.ready()
            if request.path in METRICS_PATHS:
                return self.metrics(request)
        return self.get_response(request)

    @staticmethod
    def ready():
        checks = health.readiness()
        failing = [name for name, state in checks.items() if state != health.OK]
        if not failing:
            return JsonResponse({"status": "ok", "checks": checks})
        response = JsonResponse(
            {
                "detail": f"Not ready: {', '.join(failing)}.",
                "code": ErrorCode.NOT_READY,
                "checks": checks,
            },
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
        response["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def metrics(request):
        token = settings.FINETUNING_METRICS_TOKEN
        if token is None:
            return JsonResponse(
                {
                    "detail": METRICS_OFF_MESSAGE,
                    "code": ErrorCode.NOT_FOUND,
                },
                status=HTTPStatus.NOT_FOUND,
            )
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = JsonResponse(
                {
                    "detail": METRICS_TOKEN_MESSAGE,
                    "code": ErrorCode.METRICS_FORBIDDEN,
                },
                status=HTTPStatus.UNAUTHORIZED,
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        body, content_type = metrics.render()
        return HttpResponse(body, content_type=content_type)


class RequestContextMiddleware:
    """Gives each request an id (kept from X-Request-ID when sane, returned in the answer),
    a deadline for provider calls, and counts it by route and status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _GOOD_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        with (
            context.bound(context.request_id, request_id),
            context.bound(context.job_id, None),
            context.deadline_in(settings.FINETUNING_REQUEST_DEADLINE_SECONDS),
        ):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        match = getattr(request, "resolver_match", None)
        route = (match.view_name or match.route) if match is not None else "unmatched"
        method = request.method if request.method in _KNOWN_METHODS else "other"
        metrics.HTTP_REQUESTS.labels(
            route=route, method=method, status=str(response.status_code)
        ).inc()
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Log lines about one job carry its id (the API's and the admin's job routes).
        match = request.resolver_match
        job = view_kwargs.get("pk") or view_kwargs.get("object_id")
        if job and match is not None and "finetuning" in (match.view_name or ""):
            context.job_id.set(str(job)[:100])
        return None
