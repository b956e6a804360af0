"""Finance exports: payouts and payments of a period as spreadsheet rows, formatted by the database."""

from __future__ import annotations

from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.postgres.aggregates import StringAgg
from django.db import connection
from django.db.models import (
    Aggregate,
    CharField,
    F,
    Func,
    OuterRef,
    QuerySet,
    Subquery,
    TextField,
)

from core.spreadsheet_cells import NeutralisedText
from payments.models import (
    Payment,
    Payout,
    PayoutApproval,
)
from payments.selectors.periods import in_range, nairobi_range

# --- Export (finance) ----------------------------------------------------------------------------------


class _NairobiText(Func):
    """A timestamp as 'YYYY-MM-DD HH:MM:SS' Nairobi time, formatted by PostgreSQL (much faster than Python)."""

    template = "to_char(%(expressions)s AT TIME ZONE 'Africa/Nairobi', 'YYYY-MM-DD HH24:MI:SS')"
    output_field = CharField()


class _Text(Func):
    template = "(%(expressions)s)::text"
    output_field = CharField()


class _StringAgg(Aggregate):
    """Names joined with '; ' (PostgreSQL string_agg, SQLite group_concat)."""

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, '; ')"
    output_field = CharField()

    def as_sqlite(self, compiler, conn, **extra):
        return super().as_sql(compiler, conn, function="GROUP_CONCAT", **extra)


def _approver_names() -> Subquery:
    """The active approvers' usernames, in approval order, as one '; '-separated string."""
    username = f"approver__{get_user_model().USERNAME_FIELD}"
    if connection.vendor == "postgresql":
        aggregate = StringAgg(username, delimiter="; ", order_by=("created_at", "id"))
    else:
        aggregate = _StringAgg(username)
    names = (
        PayoutApproval.objects.filter(payout=OuterRef("pk"), voided_at__isnull=True)
        .order_by()
        .values("payout")
        .annotate(names=aggregate)
        .values("names")
    )
    return Subquery(names, output_field=CharField())


def _requester_name() -> F:
    return F(f"requested_by__{get_user_model().USERNAME_FIELD}")


# Column name -> expression (a field path or an expression); the export writes them in this order.
_PAYOUT_EXPORT = {
    "id": "id",
    "kind": "kind",
    "status": "status",
    "amount": "amount",
    "rail": "rail",
    "phone": "phone",
    "party_b": "party_b",
    "account_reference": "account_reference",
    "recipient_name": "recipient_name",
    "recipient_type": "recipient_type",
    "recipient_reference": "recipient_reference",
    "receiver_name": "receiver_name",
    "command_id": "command_id",
    "remarks": "remarks",
    "occasion": "occasion",
    "payment_id": "payment_id",
    "payment_receipt": "payment__receipt",
    "batch_id": "batch_id",
    "originator_conversation_id": "originator_conversation_id",
    "conversation_id": "conversation_id",
    "transaction_id": "transaction_id",
    "result_code": "result_code",
    "result_description": "result_description",
    "requested_by": _requester_name,
    "approved_by": _approver_names,
    "required_approvals": "required_approvals",
    "review_reason": "review_reason",
    "created_at": "created_at",
    "approved_at": "approved_at",
    "submitted_at": "submitted_at",
    "completed_at": "completed_at",
    "mpesa_completed_at": "mpesa_completed_at",
    "status_changed_at": "status_changed_at",
}
_PAYMENT_EXPORT = {
    "id": "id",
    "source": "source",
    "status": "status",
    "receipt": "receipt",
    "phone": "phone",
    "amount": "amount",
    "refunded_amount": "refunded_amount",
    "account_reference": "account_reference",
    "description": "description",
    "payer_name": "payer_name",
    "checkout_request_id": "checkout_request_id",
    "merchant_request_id": "merchant_request_id",
    "result_code": "result_code",
    "result_description": "result_description",
    "transaction_time": "transaction_time",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
TIME_COLUMNS = frozenset(
    {
        "created_at",
        "approved_at",
        "submitted_at",
        "completed_at",
        "mpesa_completed_at",
        "status_changed_at",
        "transaction_time",
        "updated_at",
    }
)
MONEY_COLUMNS = frozenset({"amount", "refunded_amount"})


def _is_text_field(model, path: str) -> bool:
    field = None
    for part in path.split("__"):
        field = model._meta.get_field(part)
        model = field.related_model or model
    return isinstance(field, (CharField, TextField)) and not field.choices


def _export_values(
    queryset: QuerySet, spec: dict, *, as_text: bool, neutralise: bool = False
) -> tuple[list[str], QuerySet]:
    """values_list of the spec's columns. With as_text on PostgreSQL the database formats times and
    amounts itself; elsewhere (or for xlsx, which wants real dates and numbers) values come back typed.
    With neutralise (PostgreSQL only) the database also prefixes free text that a spreadsheet would run as a
    formula (core.spreadsheet_cells); rows written by Python are neutralised as they are written instead."""
    text = as_text and connection.vendor == "postgresql"
    neutralise = neutralise and connection.vendor == "postgresql"
    annotations, names = {}, []
    for name, source in spec.items():
        if callable(source):
            annotations[f"x_{name}"] = NeutralisedText(source()) if neutralise else source()
            names.append(f"x_{name}")
        elif neutralise and _is_text_field(queryset.model, source):
            annotations[f"x_{name}"] = NeutralisedText(F(source))
            names.append(f"x_{name}")
        elif text and name in TIME_COLUMNS:
            annotations[f"x_{name}"] = _NairobiText(F(source))
            names.append(f"x_{name}")
        elif text and name in MONEY_COLUMNS:
            annotations[f"x_{name}"] = _Text(F(source))
            names.append(f"x_{name}")
        else:
            names.append(source)
    return list(spec), queryset.annotate(**annotations).values_list(*names)


def payout_export(
    *, start: date, end: date, as_text: bool = True, neutralise: bool = False
) -> tuple[list[str], QuerySet]:
    """Every payout created between two dates (Nairobi, inclusive), oldest first: (columns, rows)."""
    lower, upper = nairobi_range(start, end)
    queryset = Payout.objects.filter(in_range("created_at", lower, upper)).order_by("created_at", "id")
    return _export_values(queryset, _PAYOUT_EXPORT, as_text=as_text, neutralise=neutralise)


def payment_export(
    *, start: date, end: date, as_text: bool = True, neutralise: bool = False
) -> tuple[list[str], QuerySet]:
    lower, upper = nairobi_range(start, end)
    queryset = Payment.objects.filter(in_range("created_at", lower, upper)).order_by("created_at", "id")
    return _export_values(queryset, _PAYMENT_EXPORT, as_text=as_text, neutralise=neutralise)
