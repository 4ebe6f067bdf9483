"""``POST /api/v1/webhooks/openai``: OpenAI tells us a fine-tuning job has ended.

The route has no API-key auth (OpenAI cannot send one) and no CSRF check; what proves the
request comes from OpenAI is its Standard Webhooks signature, verified with
OPENAI_WEBHOOK_SECRET by the SDK's helper (in ``providers.openai``). A verified event only
triggers a refresh of that job from the provider: the webhook body is never trusted for
the job's state, and polling stays the fallback when a webhook is lost.
"""

from http import HTTPStatus

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers as drf_serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from finetunings import errors, selectors, services
from finetunings.api.exceptions import error_response
from finetunings.api.serializers import ErrorSerializer
from finetunings.providers.openai import (
    WebhookBodyInvalid,
    WebhookNotConfigured,
    WebhookSignatureInvalid,
    webhook_unwrap,
)

FINE_TUNING_EVENT_PREFIX = "fine_tuning.job."
OUTCOME_PROCESSED = "processed"
OUTCOME_DUPLICATE = "duplicate"
OUTCOME_IGNORED = "ignored"


class OpenAIWebhookView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="OpenAI webhook",
        description="Receives fine_tuning.job.succeeded/failed/cancelled events, signed with "
        "OPENAI_WEBHOOK_SECRET (Standard Webhooks headers webhook-id, webhook-timestamp, "
        "webhook-signature). The job is marked due and the next worker pass refreshes it "
        "from the provider; a repeated event id changes nothing more. No API key.",
        request=None,
        responses={
            200: inline_serializer("WebhookOutcome", {"status": drf_serializers.CharField()}),
            HTTPStatus.BAD_REQUEST: OpenApiResponse(
                ErrorSerializer,
                description="Bad or stale signature "
                f"({errors.ErrorCode.WEBHOOK_INVALID_SIGNATURE}), or a signed body that is not "
                f"an event ({errors.ErrorCode.WEBHOOK_INVALID_BODY}); nothing changed.",
            ),
            HTTPStatus.SERVICE_UNAVAILABLE: OpenApiResponse(
                ErrorSerializer,
                description="No webhook secret is configured.",
            ),
        },
    )
    def post(self, request):
        try:
            event = webhook_unwrap(payload=request.body, headers=dict(request.headers))
        except WebhookNotConfigured as exc:
            return error_response(
                HTTPStatus.SERVICE_UNAVAILABLE, str(exc), errors.ErrorCode.WEBHOOK_NOT_CONFIGURED
            )
        except WebhookSignatureInvalid as exc:
            return error_response(
                HTTPStatus.BAD_REQUEST,
                errors.WEBHOOK_INVALID_SIGNATURE_MESSAGE.format(reason=exc),
                errors.ErrorCode.WEBHOOK_INVALID_SIGNATURE,
            )
        except WebhookBodyInvalid as exc:
            return error_response(
                HTTPStatus.BAD_REQUEST,
                errors.WEBHOOK_INVALID_BODY_MESSAGE.format(reason=exc),
                errors.ErrorCode.WEBHOOK_INVALID_BODY,
            )
        finetuning = None
        if event.type.startswith(FINE_TUNING_EVENT_PREFIX) and event.job_id:
            finetuning = selectors.finetuning_by_provider_job_id(event.job_id)
        if finetuning is None:
            return Response({"status": OUTCOME_IGNORED})
        if selectors.finetuning_webhook_seen(finetuning=finetuning, event_id=event.id):
            return Response({"status": OUTCOME_DUPLICATE})
        # Never waits on the provider: the job is made due and the next worker pass refreshes it.
        if not services.finetuning_mark_due(
            finetuning=finetuning, event_id=event.id, event_type=event.type
        ):
            return Response({"status": OUTCOME_DUPLICATE})
        return Response({"status": OUTCOME_PROCESSED})
