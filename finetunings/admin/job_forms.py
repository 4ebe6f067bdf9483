"""The job's forms: the few fields staff may edit, and a new job checked as the API checks it."""

from django import forms
from django.conf import settings

from finetunings import selectors, services
from finetunings.admin.mixins import MetadataFieldMixin
from finetunings.admin.validation_split import ValidationSplitFormMixin
from finetunings.models import DatabaseConnection, Finetuning

ADD_GOLDEN_RECORDS_HELP = (
    "Ids separated by spaces, commas or new lines. Leave blank to train on all of the "
    "connection's golden records."
)

# What staff may edit on a job; the rest of its page is read-only.
JOB_EDITABLE_FIELDS = ("alias", "metadata")


class FinetuningForm(MetadataFieldMixin, forms.ModelForm):
    class Meta:
        model = Finetuning
        fields = list(JOB_EDITABLE_FIELDS)


def model_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The base models staff may pick, grouped by provider (as the API allows them)."""
    return [
        (provider, [(name, name) for name in names])
        for provider, names in settings.FINETUNING_ALLOWED_MODELS.items()
        if provider in settings.FINETUNING_PROVIDERS
    ]


class FinetuningAddForm(ValidationSplitFormMixin, forms.ModelForm):
    """A blank job: its fields are checked by the same rules as ``finetuning_create``."""

    db_connection = forms.ModelChoiceField(
        queryset=DatabaseConnection.objects.none(), label="Database connection"
    )
    model_provider = forms.ChoiceField(label="Provider")
    model_name = forms.ChoiceField(label="Base model")
    golden_records = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "ft-code"}),
        label="Golden record ids",
        help_text=ADD_GOLDEN_RECORDS_HELP,
    )

    class Meta:
        model = Finetuning
        fields = ["alias", "metadata"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["db_connection"].queryset = selectors.database_connection_list()
        self.fields["alias"].required = False
        self.fields["alias"].help_text = "Leave blank for one made of the connection and the time."
        self.fields["model_provider"].choices = [
            (provider, provider) for provider, _models in model_choices()
        ]
        self.fields["model_provider"].initial = settings.FINETUNING_DEFAULT_PROVIDER
        self.fields["model_name"].choices = model_choices()
        self.fields["model_name"].initial = settings.FINETUNING_DEFAULT_MODEL

    def clean_golden_records(self):
        # Blank means all of the connection's, as omitting the field does in the API.
        ids = self.cleaned_data["golden_records"].replace(",", " ").split()
        return ids or None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        problems = services.finetuning_create_problems(
            db_connection_id=cleaned["db_connection"].pk,
            base_llm=self.base_llm,
            golden_records=cleaned["golden_records"],
            metadata=cleaned.get("metadata"),
            **self.validation_request(),
        )
        for field, messages_ in problems.items():
            # The service names fields as the API does (base_llm.model_name, ...).
            name = field.removeprefix("base_llm.")
            self.add_error(name if name in self.fields else None, messages_)
        return cleaned

    @property
    def base_llm(self) -> dict:
        return {
            "model_provider": self.cleaned_data["model_provider"],
            "model_name": self.cleaned_data["model_name"],
        }
