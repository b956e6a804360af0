"""Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEY (after adding a new key in front
of the old one): the Daraja credential sets and the webhook endpoints' signing secrets. Afterwards the old key
can be removed. All or nothing: one value the keys cannot decrypt changes nothing and names its row."""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from payments.field_encryption import SECRET_FIELDS, rotate_value
from payments.models import DarajaCredentialSet
from webhooks.models import WebhookEndpoint
from webhooks.secrets import rotate_secret

WEBHOOK_SECRET_FIELDS = ("secret_encrypted", "previous_secret_encrypted")


class Command(BaseCommand):
    help = "Re-encrypts stored Daraja credentials and webhook signing secrets with the newest FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        sets = endpoints = 0
        with transaction.atomic():
            for stored in DarajaCredentialSet.objects.select_for_update():
                _rotate(stored, SECRET_FIELDS.values(), rotate_value, f"credential set #{stored.pk}")
                sets += 1
            now = timezone.now()
            for endpoint in WebhookEndpoint.objects.select_for_update():
                if endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at <= now:
                    # No longer used to sign: dropped, not rotated (it may predate a key already removed).
                    endpoint.previous_secret_encrypted, endpoint.previous_secret_expires_at = "", None
                _rotate(endpoint, WEBHOOK_SECRET_FIELDS, rotate_secret, f"webhook endpoint #{endpoint.pk}",
                        also=["previous_secret_expires_at"])  # fmt: skip
                endpoints += 1
        self.stdout.write(self.style.SUCCESS(
            f"Re-encrypted {sets} credential set(s) and {endpoints} webhook endpoint secret(s) with the newest key."
        ))  # fmt: skip


def _rotate(row, columns, rotate, label: str, also=()) -> None:
    columns = list(columns)
    try:
        for column in columns:
            setattr(row, column, rotate(getattr(row, column)))
    except (ImproperlyConfigured, ValueError) as exc:
        raise CommandError(f"{label}: {exc} Nothing was changed.") from None
    row.save(update_fields=[*columns, *also, "updated_at"])
