"""The job's timeline on its admin page: the latest events as a read-only table.

In the provider's time order: a provider event carries the provider's own time (and its
order within one second), our own events theirs, so both interleave as they happened.
Each event's data shows as key/value lines (nested values as indented JSON), not as one
line of JSON.
"""

import json

from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join

from finetunings import selectors
from finetunings.admin.mixins import shortened

TIMELINE_SUMMARY = "The latest {shown} of {total} events, newest first."
TIMELINE_SUMMARY_ALL = "{total} event(s), newest first."


def timeline_html(finetuning, *, shown: int, data_chars: int) -> str:
    """The latest ``shown`` events, newest first, with a link to all of them in the API.

    Not an inline: each inline row posts back hidden inputs, so a long timeline broke
    saving the form (DATA_UPLOAD_MAX_NUMBER_FIELDS) and a training run's thousands of
    provider events made a page of megabytes.
    """
    latest, total = selectors.finetuning_timeline_latest(finetuning=finetuning, limit=shown)
    if not latest:
        return "No events yet."
    rows = format_html_join(
        "\n",
        '<tr data-ft-event="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
        "<td>{}</td></tr>",
        (
            (
                event.pk,
                date_format(timezone.localtime(event.created_at), "Y-m-d H:i:s"),
                event.get_kind_display(),
                event.actor or "-",
                f"{event.from_status or '-'} → {event.to_status}" if event.to_status else "-",
                event.message or "-",
                data_html(event.data, limit=data_chars),
            )
            for event in latest
        ),
    )
    summary = TIMELINE_SUMMARY if total > len(latest) else TIMELINE_SUMMARY_ALL
    return format_html(
        '<p>{} (<a href="{}">the whole timeline, oldest first, in the API</a>)</p>'
        '<table class="ft-timeline"><thead><tr><th>when</th><th>kind</th><th>actor</th>'
        "<th>status</th><th>message</th><th>data</th></tr></thead><tbody>{}</tbody></table>",
        summary.format(shown=len(latest), total=f"{total:,}"),
        reverse("api:finetuning-events", args=[finetuning.pk]),
        rows,
    )


def data_html(data, *, limit: int) -> str:
    """An event's data, readable: one line per key (a nested object's keys dotted, as a
    provider's ``data.step``), deeper values as indented JSON."""
    if not data:
        return "-"
    if not isinstance(data, dict):
        return format_html('<pre class="ft-data-json">{}</pre>', _json(data, limit))
    return format_html(
        '<dl class="ft-data">{}</dl>',
        format_html_join(
            "",
            "<dt>{}</dt><dd>{}</dd>",
            ((key, _value_html(value, limit)) for key, value in _flattened(data)),
        ),
    )


# Shown in the table's "when" column already (a provider event's time is the provider's).
KEYS_SHOWN_ELSEWHERE = {"provider_created_at"}


def _flattened(data: dict):
    for key, value in data.items():
        if key in KEYS_SHOWN_ELSEWHERE:
            continue
        if isinstance(value, dict) and value:
            for inner_key, inner_value in value.items():
                yield f"{key}.{inner_key}", inner_value
        else:
            yield key, value


def _value_html(value, limit: int) -> str:
    if isinstance(value, dict | list):
        return format_html('<pre class="ft-data-json">{}</pre>', _json(value, limit))
    if value is None:
        return "-"
    return shortened(value if isinstance(value, str) else json.dumps(value), limit)


def _json(value, limit: int) -> str:
    return shortened(json.dumps(value, indent=2, ensure_ascii=False), limit)
