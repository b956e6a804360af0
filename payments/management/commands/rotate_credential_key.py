"""Re-encrypt every stored credential with the first key of FIELD_ENCRYPTION_KEY (after adding a new key
in front of the old one). Afterwards the old key can be removed."""

from django.core.management.base import BaseCommand
from django.db import transaction

from payments.credentials import SECRET_FIELDS, rotate_value
from payments.models import DarajaCredentialSet


class Command(BaseCommand):
    help = "Re-encrypts stored Daraja credentials with the newest FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        count = 0
        with transaction.atomic():
            for stored in DarajaCredentialSet.objects.select_for_update():
                for column in SECRET_FIELDS.values():
                    setattr(stored, column, rotate_value(getattr(stored, column)))
                stored.save(update_fields=[*SECRET_FIELDS.values(), "updated_at"])
                count += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} credential set(s) with the newest key."))
