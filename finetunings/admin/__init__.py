"""The Django admin: staff's whole tool for looking at fine-tuning jobs and stopping them.

One module per concern: ``jobs`` (the job list and page, assembled from ``job_fields``,
``cancel``, ``start_again`` and ``live``; the page's training part in ``training``, its
timeline in ``timeline``, its validation split (and the add form's) in
``validation_split``, its latest evaluation in ``evaluations``, which also holds the
evaluation admin), ``connections``, ``golden_records`` (with the import and export
pages in ``golden_record_files``), ``api_keys``, ``webhooks``; shared pieces in ``mixins``,
``filters`` and ``job_forms``.

The classes only present data and call ``finetunings.services``: the cancel action, the
Cancel button and the API share ``services.finetuning_cancel``, and every save or delete
goes through its service. Reads come from ``finetunings.selectors``. Change lists are built
for hundreds of thousands of rows: one query for the page (related rows joined), one count
of the filtered rows for the paginator but not a second one of the whole table, no query
per row.

Importing this package registers every model admin. The messages tests import are
re-exported here, so ``from finetunings.admin import CANCEL_DONE`` keeps working.
"""

from django.contrib import admin
from django.urls import reverse_lazy

from finetunings.admin import api_keys, connections, evaluations, golden_records, jobs, webhooks
from finetunings.admin.api_keys import API_KEY_CREATED, API_KEY_REVOKED
from finetunings.admin.cancel import (
    CANCEL_ACTION,
    CANCEL_ALREADY_CANCELLED,
    CANCEL_ALREADY_FINISHED,
    CANCEL_DONE,
    CANCEL_IN_PROGRESS,
    CANCEL_LOG_MESSAGE,
    CANCEL_OUT_OF_TIME,
    CANCEL_PROVIDER_REFUSED,
    CANCEL_PROVIDER_UNREACHABLE,
    CANCEL_TOO_MANY,
)
from finetunings.admin.connections import CONNECTION_ALIAS_TAKEN, DatabaseConnectionForm
from finetunings.admin.jobs import FinetuningAdmin
from finetunings.admin.start_again import (
    START_AGAIN_ACTION,
    START_AGAIN_DONE,
    START_AGAIN_REFUSED,
)

__all__ = [
    "API_KEY_CREATED",
    "API_KEY_REVOKED",
    "CANCEL_ACTION",
    "CANCEL_ALREADY_CANCELLED",
    "CANCEL_ALREADY_FINISHED",
    "CANCEL_DONE",
    "CANCEL_IN_PROGRESS",
    "CANCEL_LOG_MESSAGE",
    "CANCEL_OUT_OF_TIME",
    "CANCEL_PROVIDER_REFUSED",
    "CANCEL_PROVIDER_UNREACHABLE",
    "CANCEL_TOO_MANY",
    "CONNECTION_ALIAS_TAKEN",
    "START_AGAIN_ACTION",
    "START_AGAIN_DONE",
    "START_AGAIN_REFUSED",
    "DatabaseConnectionForm",
    "FinetuningAdmin",
    "api_keys",
    "connections",
    "evaluations",
    "golden_records",
    "jobs",
    "webhooks",
]

admin.site.site_header = "Fine-tuning jobs administration"
admin.site.site_title = "Fine-tuning jobs"
admin.site.index_title = "Jobs, connections, golden records and API keys"
# "View site" leads to the API's interactive documentation: the service has no other site.
admin.site.site_url = reverse_lazy("api:docs")
