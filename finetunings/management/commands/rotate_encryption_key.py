"""``manage.py rotate_encryption_key``: re-encrypt every stored secret with the newest key.

Rotation: put the new key first in FINETUNING_ENCRYPTION_KEY (``new,old``) on every
process, run this command, then drop the old key.
"""

from django.core.management.base import BaseCommand

from finetunings import maintenance


class Command(BaseCommand):
    help = "Re-encrypt every stored connection URI with the first key of FINETUNING_ENCRYPTION_KEY."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be re-encrypted."
        )

    def handle(self, *args, dry_run, **options):
        rotated, current = maintenance.encryption_key_rotate(dry_run=dry_run)
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        self.stdout.write(
            f"{verb} {rotated} secret(s) with the newest key; {current} already used it."
        )
