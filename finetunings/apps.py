from django.apps import AppConfig


class FinetuningsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "finetunings"
    verbose_name = "Fine-tuning"

    def ready(self):
        from finetunings import checks  # noqa: F401  (registers the system checks)
        from finetunings.api import schema  # noqa: F401  (registers the schema extensions)
