"""The validation split's fields: asked for on create, shown on the job.

Mixed into ``FinetuningCreateSerializer`` and ``FinetuningSerializer``; the split's rules
(``finetunings.validation_split``) are checked by the service, as every create rule is.
"""

from rest_framework import serializers

from finetunings.api.fields import golden_record_ids_field
from finetunings.validation_split import FRACTION_MAX, SEED_MAX

# The job's split, as ``FinetuningSerializer`` lists it.
SPLIT_FIELDS = [
    "validation_golden_records",
    "validation_fraction",
    "validation_seed",
    "validation_file_id",
]


class SplitFields(serializers.Serializer):
    validation_golden_records = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Ids of the golden records held out for validation (never also in "
        "golden_records); empty without a split.",
    )
    validation_fraction = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="The fraction the split was drawn with; null when the ids were listed.",
    )
    validation_seed = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="The seed of a drawn split: with validation_fraction it repeats the split "
        "(see the README's Validation split).",
    )
    validation_file_id = serializers.CharField(
        read_only=True, allow_null=True, help_text="The provider's id of the validation file."
    )


# The split's numbers may be left out or null; neither is ever negative.
_OPTIONAL_FROM_ZERO = {"required": False, "allow_null": True, "min_value": 0}


class SplitRequestFields(serializers.Serializer):
    validation_golden_records = golden_record_ids_field(
        "Golden record ids of the same connection to hold out for validation, "
        "never also in golden_records (when golden_records is omitted, they are taken out of "
        "the connection's records). The worker uploads them as the provider's validation "
        "file, so the job reports validation loss. Not with validation_fraction."
    )
    # The ranges are the service's rules too (for the admin and every caller); declared
    # here as well so that the schema shows them.
    validation_fraction = serializers.FloatField(
        **_OPTIONAL_FROM_ZERO,
        max_value=FRACTION_MAX,
        help_text="Hold out this share (0 to 0.5, rounded half up to whole records) of the "
        "job's golden records, drawn at random when the job is created; the job then lists "
        "the training part in golden_records and the held-out part in "
        "validation_golden_records. At least one record must be held out and ten left.",
    )
    validation_seed = serializers.IntegerField(
        **_OPTIONAL_FROM_ZERO,
        max_value=SEED_MAX,
        help_text="With validation_fraction: the seed of the draw (random when omitted, and "
        "recorded on the job either way). The same ids, fraction and seed give the same split.",
    )

    def get_fields(self):
        # After the job's own fields (a mixin's come first), in the schema and the forms.
        fields = super().get_fields()
        for name in ("validation_golden_records", "validation_fraction", "validation_seed"):
            fields[name] = fields.pop(name)
        return fields
