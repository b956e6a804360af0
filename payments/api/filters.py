"""Query-string filters of the payments and payouts lists.

`status`, `source` and `kind` take one value or several (`?status=failed&status=needs_review`). `phone` takes
any form of a Kenyan number (0712..., +254712..., 254712...). `created_after` is inclusive, `created_before`
exclusive; both take an ISO date or date-time, a bare date meaning midnight Nairobi time.
"""

from __future__ import annotations

import django_filters as filters

from core.phone import InvalidPhoneNumber, is_hashed_msisdn, normalize_msisdn
from payments.models import Payment, PaymentSource, PaymentStatus, Payout, PayoutKind, PayoutRail, PayoutStatus


def _phone(value: str) -> str:
    try:
        return normalize_msisdn(value)
    except InvalidPhoneNumber:
        # C2B confirmations may carry a masked number ("2547 ***** 126") or a SHA-256 hex of it (matched in
        # lower case, as stored): match it as given.
        value = value.strip()
        return value.lower() if is_hashed_msisdn(value) else value


# Every filter here is on the row itself or a to-one relation: no duplicates, so no DISTINCT (which would
# make PostgreSQL sort the whole filtered table before the first page).
class _LedgerFilter(filters.FilterSet):
    phone = filters.CharFilter(method="filter_phone", help_text="MSISDN in any Kenyan form.")
    created_after = filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO date or date-time)."
    )
    created_before = filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before (ISO date or date-time)."
    )

    def filter_phone(self, queryset, name, value):
        return queryset.filter(phone=_phone(value))


class PaymentFilter(_LedgerFilter):
    status = filters.MultipleChoiceFilter(choices=PaymentStatus.choices, distinct=False)
    source = filters.MultipleChoiceFilter(choices=PaymentSource.choices, distinct=False)
    receipt = filters.CharFilter(method="filter_receipt", help_text="M-Pesa receipt (case-insensitive).")

    class Meta:
        model = Payment
        fields = ["status", "source", "phone", "receipt", "created_after", "created_before"]

    def filter_receipt(self, queryset, name, value):
        # Receipts are upper case; comparing exactly keeps the unique index usable.
        return queryset.filter(receipt=value.strip().upper())


class PayoutFilter(_LedgerFilter):
    status = filters.MultipleChoiceFilter(choices=PayoutStatus.choices, distinct=False)
    kind = filters.MultipleChoiceFilter(choices=PayoutKind.choices, distinct=False)
    rail = filters.MultipleChoiceFilter(
        choices=PayoutRail.choices, distinct=False,
        help_text="How it is paid: mobile, pochi, paybill, till, float_topup, reversal.",
    )
    source = filters.MultipleChoiceFilter(
        field_name="payment__source",
        choices=PaymentSource.choices,
        distinct=False,
        help_text="Source of the payment a refund returns (disbursements have none).",
    )
    receipt = filters.CharFilter(
        method="filter_receipt", help_text="M-Pesa receipt of the payout (its TransactionID), case-insensitive."
    )
    result_code = filters.CharFilter(help_text="Daraja ResultCode, e.g. 0 or 2001.")

    class Meta:
        model = Payout
        fields = ["status", "kind", "rail", "source", "phone", "party_b", "receipt", "result_code", "created_after",
                  "created_before"]

    def filter_receipt(self, queryset, name, value):
        return queryset.filter(transaction_id=value.strip().upper())
