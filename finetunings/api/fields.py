"""Serializer fields the API's request shapes share."""

from rest_framework import serializers

from finetunings import validation


def rendered_datetime(value, zone) -> str | None:
    """What DRF's DateTimeField renders (DATETIME_FORMAT "iso-8601"): ``value`` in the
    current time zone ``zone`` (looked up once by the caller), UTC written as Z."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF's CharField would quietly turn 42 into "42"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def golden_record_ids_field(help_text: str) -> serializers.ListField:
    """An optional list of golden record ids, as many as one job may name."""
    return serializers.ListField(
        child=StrictCharField(max_length=24),
        max_length=validation.GOLDEN_RECORDS_MAXIMUM,
        required=False,
        allow_null=True,
        help_text=help_text,
    )
