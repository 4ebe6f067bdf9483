"""The REST API's viewsets: each one validates its input, calls a service, shows the result.

Business rules and state changes live in ``finetunings.services``; errors those raise are
turned into responses by ``api.exceptions``. One module per resource (``evaluations``
holds its own routes, nested under a job); ``common`` holds the documented error answers
and the 404 they share.
"""

from finetunings.api.views.common import AUTH_ERRORS, BAD_REQUEST, NOT_FOUND, FriendlyNotFoundMixin
from finetunings.api.views.connections import DatabaseConnectionViewSet
from finetunings.api.views.evaluations import EvaluationViewSet
from finetunings.api.views.finetunings import FinetuningViewSet
from finetunings.api.views.golden_records import GoldenRecordViewSet

__all__ = [
    "AUTH_ERRORS",
    "BAD_REQUEST",
    "NOT_FOUND",
    "DatabaseConnectionViewSet",
    "EvaluationViewSet",
    "FinetuningViewSet",
    "FriendlyNotFoundMixin",
    "GoldenRecordViewSet",
]
