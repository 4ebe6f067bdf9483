from django.core.management.base import BaseCommand, CommandError

from finetunings import services


class Command(BaseCommand):
    help = "Create an API key for the REST API. The key is printed once, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who or what the key is for, e.g. ci-pipeline.")

    def handle(self, *args, name: str, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters.")
        api_key, raw_key = services.api_key_create(name=name)
        self.stderr.write(
            f"Created API key {api_key.name!r} ({api_key.prefix}). Store it now: only its "
            "hash is kept. Use it as 'Authorization: Bearer <key>'."
        )
        self.stdout.write(raw_key)
