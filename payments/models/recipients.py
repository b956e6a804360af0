"""Recipients: the people and businesses we pay again and again, saved once and approved once.

A recipient names how it is paid (a rail and its payee fields, the rules of payments/payouts/rails.py). A new
recipient, and any change to how it is paid, waits for an approver other than its creator and whoever set
that payee; until then it cannot be paid. The services in payments/recipients/ are the only writers.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from payments.models.payouts import PayoutRail


class RecipientStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


# The rails a saved recipient may be paid by: a person's phone, or a business's paybill or till.
RECIPIENT_RAILS = (PayoutRail.MOBILE, PayoutRail.POCHI, PayoutRail.PAYBILL, PayoutRail.TILL)
# The fields that say how a recipient is paid: changing any of them voids its approval.
PAYEE_FIELDS = ("rail", "phone", "party_b", "account_reference")


class RecipientImport(models.Model):
    """A CSV of recipients loaded at once (`recipients_import`, or the console's upload): its recipients wait
    for approval like a batch of payouts, and the rows it refused are kept with it."""

    name = models.CharField(max_length=150)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    refused_rows = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Recipient(models.Model):
    name = models.CharField(max_length=150)
    # The business's own id for them (a trainer or supplier number): the bulk file names a recipient by it.
    external_reference = models.CharField(max_length=100, blank=True)
    category = models.CharField(max_length=30, blank=True, help_text="e.g. trainer, supplier, client")
    notes = models.TextField(blank=True)
    rail = models.CharField(max_length=16, choices=[(r.value, r.label) for r in RECIPIENT_RAILS])
    phone = models.CharField(max_length=12, blank=True)
    party_b = models.CharField("paybill or till number", max_length=12, blank=True)
    account_reference = models.CharField(max_length=13, blank=True)
    status = models.CharField(max_length=20, choices=RecipientStatus.choices,
                              default=RecipientStatus.PENDING_APPROVAL)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # Who last set how it is paid (its creator, or whoever changed the payee since): may not approve it.
    payee_set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    # The payee as last approved, with who set and approved it ({} before the first approval): a rejected change
    # of an active recipient puts this back, so a refused edit does not lose the approved details.
    approved_payee = models.JSONField(default=dict, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_reason = models.CharField(max_length=500, blank=True)
    source_import = models.ForeignKey(RecipientImport, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="recipients")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["status", "name"], name="recipient_status_name")]
        constraints = [
            # One live recipient per external reference: the bulk file names a recipient by it.
            models.UniqueConstraint(
                fields=["external_reference"], name="recipient_reference_unique_live",
                condition=~Q(external_reference="") & ~Q(status=RecipientStatus.ARCHIVED),
            ),
            models.CheckConstraint(condition=Q(rail__in=[r.value for r in RECIPIENT_RAILS]),
                                   name="recipient_rail_known"),
            models.CheckConstraint(
                condition=~Q(rail__in=[PayoutRail.MOBILE, PayoutRail.POCHI]) | (~Q(phone="") & Q(party_b="")),
                name="recipient_phone_rail_has_phone",
            ),
            models.CheckConstraint(
                condition=~Q(rail__in=[PayoutRail.PAYBILL, PayoutRail.TILL])
                | (Q(party_b__regex=r"^[0-9]{5,7}$") & Q(phone="")),
                name="recipient_business_rail_has_party_b",
            ),
            models.CheckConstraint(condition=~Q(rail=PayoutRail.PAYBILL) | ~Q(account_reference=""),
                                   name="recipient_paybill_has_account"),
            # Four eyes, kept by the database too: an active recipient was approved by someone else.
            models.CheckConstraint(condition=~Q(status=RecipientStatus.ACTIVE) | Q(approved_by__isnull=False),
                                   name="recipient_active_is_approved"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True)
                | (~Q(approved_by=F("created_by")) & ~Q(approved_by=F("payee_set_by"))),
                name="recipient_approver_not_author",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def payable(self) -> bool:
        return self.status == RecipientStatus.ACTIVE

    def payee(self) -> dict[str, str]:
        """How it is paid, as the payout's fields."""
        return {field: getattr(self, field) for field in PAYEE_FIELDS}
