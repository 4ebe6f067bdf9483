"""The validation split in the admin: the add form's fields and the job page's summary.

Kept apart from ``admin.py`` so that the split's rules stay in ``validation_split`` and the
admin only collects the request and shows the result.
"""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from finetunings import validation_split

VALIDATION_IDS_HELP = (
    "Optional: golden record ids to hold out for validation (never also listed above), "
    "separated by spaces, commas or new lines. Not with a validation fraction."
)
VALIDATION_FRACTION_HELP = (
    f"Optional: hold out this share (0 to {validation_split.FRACTION_MAX}) of the golden "
    "records, drawn at random; the job records the seed so the split can be repeated."
)
IDS_SHOWN = 20


class ValidationSplitFormMixin(forms.Form):
    """The add form's fields for a split, passed to the service as the API passes them."""

    validation_golden_records = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "ft-code"}),
        label="Validation golden record ids",
        help_text=VALIDATION_IDS_HELP,
    )
    validation_fraction = forms.FloatField(
        required=False,
        min_value=0,
        max_value=validation_split.FRACTION_MAX,
        label="Validation fraction",
        help_text=VALIDATION_FRACTION_HELP,
    )

    def clean_validation_golden_records(self):
        ids = self.cleaned_data["validation_golden_records"].replace(",", " ").split()
        return ids or None

    def validation_request(self) -> dict:
        return {
            "validation_golden_records": self.cleaned_data.get("validation_golden_records"),
            "validation_fraction": self.cleaned_data.get("validation_fraction"),
        }


ADD_FIELDS = ["validation_golden_records", "validation_fraction"]
CHANGE_FIELDS = ["validation_split_summary"]


class ValidationSplitAdminMixin:
    @admin.display(description="validation split")
    def validation_split_summary(self, obj):
        ids = obj.validation_golden_records or []
        if not ids:
            return "None: the job trains without a validation file."
        drawn = "listed by the client"
        if obj.validation_fraction is not None:
            drawn = f"drawn with fraction {obj.validation_fraction:g}, seed {obj.validation_seed}"
        if obj.validation_file:
            url = reverse("api:finetuning-validation-file", args=[obj.pk])
            file = format_html('<a href="{}">Download the validation file (JSONL)</a>', url)
        else:
            file = "Validation file not built yet."
        rows = [
            (f"{len(ids):,} golden records held out", drawn),
            ("ids", ", ".join(ids[:IDS_SHOWN]) + (" …" if len(ids) > IDS_SHOWN else "")),
            ("provider's validation file id", obj.validation_file_id or "-"),
        ]
        lines = format_html_join(mark_safe("<br>"), "{}: {}", rows)
        return format_html("{}<br>{}", lines, file)
