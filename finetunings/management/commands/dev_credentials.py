"""Development only: make sure there is an admin login and an API key, and print them.

``scripts/run`` calls this so a newcomer can log in right away. The raw secrets are kept in
``var/dev-credentials.json`` (git-ignored, readable by the owner only) because the database
only holds hashes; delete that file and the database to start afresh.
"""

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from finetunings import selectors, services

CREDENTIALS_FILE = settings.BASE_DIR / "var" / "dev-credentials.json"


class Command(BaseCommand):
    help = "Development only: ensure an admin user and an API key exist, and print them."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("dev_credentials only runs with DJANGO_DEBUG=1.")
        stored = self._load()
        user_model = get_user_model()

        user = user_model.objects.filter(username=stored.get("username", "admin")).first()
        if user is None or not user.check_password(stored.get("password", "")):
            stored["username"] = "admin"
            stored["password"] = secrets.token_urlsafe(12)
            user = user or user_model(username="admin", email="admin@localhost")
            user.is_staff = user.is_superuser = True
            user.set_password(stored["password"])
            user.save()

        key = stored.get("api_key")
        if not key or not selectors.api_key_exists(raw_key=key):
            _, stored["api_key"] = services.api_key_create(name="development")

        self._save(stored)
        self.stdout.write(json.dumps(stored))

    def _load(self) -> dict:
        try:
            return json.loads(CREDENTIALS_FILE.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _save(self, stored: dict) -> None:
        CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
        CREDENTIALS_FILE.touch(mode=0o600, exist_ok=True)
        CREDENTIALS_FILE.write_text(json.dumps(stored, indent=2))
