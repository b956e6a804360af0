"""API representations. Read-only ones here are for the lists, details and reconciliation endpoints.

Money is a string with two decimals ("1500.00"), as DRF writes Decimal; times are ISO 8601 in Nairobi time.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.money import MONEY, SUM
from payments import selectors
from payments.callbacks.masking import mask_callback_tokens
from payments.models import AuditEvent, DarajaCallback, Payment, Payout, PayoutApproval, PayoutEditor
from payments.selectors import DiscrepancyKind

_time = serializers.DateTimeField().to_representation



def refuse_unknown_fields(serializer: serializers.Serializer, *, wording: str = "Unknown fields") -> None:
    """A body naming a field the serializer does not know is refused (400) rather than silently ignored: a
    typo in a money field must not pass as "unchanged"."""
    unknown = sorted(set(serializer.initial_data) - set(serializer.fields))
    if unknown:
        raise serializers.ValidationError(f"{wording}: {', '.join(unknown)}.")


class PartialChangeMixin:
    """A PATCH serializer made from a create serializer: any field may be left out and only those given change;
    a field it does not know, or no field at all, is refused (400)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty

    def validate(self, attrs):
        refuse_unknown_fields(self, wording="These fields cannot be changed")
        if not attrs:
            raise serializers.ValidationError(f"Give at least one field to change: {', '.join(self.fields)}.")
        return attrs


class PaymentSerializer(serializers.ModelSerializer):
    refundable_amount = serializers.DecimalField(**MONEY, read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "source",
            "status",
            "phone",
            "amount",
            "receipt",
            "account_reference",
            "refunded_amount",
            "refundable_amount",
            "payer_name",
            "transaction_time",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PayoutApproval
        fields = ["approver", "created_at"]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = ["action", "from_status", "to_status", "actor", "source", "details", "created_at"]
        read_only_fields = fields


class PayoutEditorSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    changed_what_is_paid = serializers.BooleanField(
        source="changed_bound", read_only=True,
        help_text="Changed the amount, phone or CommandID: may not approve this payout.")

    class Meta:
        model = PayoutEditor
        fields = ["user", "fields", "changed_what_is_paid", "first_edited_at", "last_edited_at"]
        read_only_fields = fields


class PayoutSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    payment = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    approvals = serializers.SerializerMethodField(help_text="Approvals that still count (voided ones left out).")

    class Meta:
        model = Payout
        fields = [
            "id",
            "kind",
            "status",
            "rail",
            "phone",
            "party_b",
            "account_reference",
            "amount",
            "expected_charge",
            "charge",
            "send_after",
            "hold_reason",
            "command_id",
            "payment",
            "batch",
            "recipient_name",
            "recipient_type",
            "recipient_reference",
            "remarks",
            "occasion",
            "originator_conversation_id",
            "conversation_id",
            "transaction_id",
            "result_code",
            "result_description",
            "receiver_name",
            "name_check_status",
            "name_check_name",
            "name_checked_at",
            "first_time_payee",
            "requested_by",
            "required_approvals",
            "approval_rule",
            "approvals",
            "review_reason",
            "created_at",
            "status_changed_at",
            "submitted_at",
            "completed_at",
            "mpesa_completed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ApprovalSerializer(many=True))
    def get_approvals(self, payout: Payout) -> list[dict]:
        approvals = getattr(payout, "active_approvals", None)
        if approvals is None:  # not loaded through selectors.payout_list()
            approvals = selectors.active_approvals().filter(payout=payout)
        # Built by hand: a nested serializer per payout would cost more than the whole page's queries.
        return [{"approver": a.approver.username, "created_at": _time(a.created_at)} for a in approvals]


class PayoutDetailSerializer(PayoutSerializer):
    editors = serializers.SerializerMethodField(
        help_text="Everyone who changed the payout after it was requested, with the fields each changed (the "
        "events hold the old and new values)."
    )
    events = serializers.SerializerMethodField(help_text="The audit trail, oldest first.")

    class Meta(PayoutSerializer.Meta):
        fields = [*PayoutSerializer.Meta.fields, "editors", "events"]
        read_only_fields = fields

    @extend_schema_field(PayoutEditorSerializer(many=True))
    def get_editors(self, payout: Payout) -> list[dict]:
        editors = getattr(payout, "editor_list", None)
        if editors is None:
            editors = payout.editors.select_related("user")
        return PayoutEditorSerializer(editors, many=True).data

    @extend_schema_field(AuditEventSerializer(many=True))
    def get_events(self, payout: Payout) -> list[dict]:
        events = getattr(payout, "event_list", None)
        if events is None:
            events = payout.events.select_related("actor").order_by("created_at", "id")
        return [
            {
                "action": e.action,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "actor": e.actor.username if e.actor_id else None,
                "source": e.source,
                "details": e.details,
                "created_at": _time(e.created_at),
            }
            for e in events
        ]


# --- Reconciliation ---------------------------------------------------------------------------------


class StatsQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="First day (Nairobi time), inclusive.")
    end = serializers.DateField(required=False, help_text="Last day (Nairobi time), inclusive.")

    def _in_range(self, value):
        problem = selectors.report_date_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    validate_start = validate_end = _in_range

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"end": "The end date is before the start date."})
        return attrs


class StatsSerializer(serializers.Serializer):
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)
    total_payments = serializers.IntegerField()
    completed_payments = serializers.IntegerField()
    failed_payments = serializers.IntegerField()
    payment_revenue = serializers.DecimalField(**SUM, help_text="Sum of completed payments.")
    reversed_payments = serializers.IntegerField(help_text="Payments given back whole by a completed reversal.")
    reversed_total = serializers.DecimalField(**SUM, help_text="Sum of the reversed payments.")
    total_payouts = serializers.IntegerField()
    completed_payouts = serializers.IntegerField()
    failed_payouts = serializers.IntegerField()
    pending_approval_payouts = serializers.IntegerField()
    verifying_payouts = serializers.IntegerField()
    needs_review_payouts = serializers.IntegerField()
    payout_total = serializers.DecimalField(**SUM, help_text="Sum of completed payouts (refunds included).")
    refunded_total = serializers.DecimalField(
        **SUM, help_text="Sum of completed refunds, reversals included (a reversal is a refund of the whole payment)."
    )
    last_known_float = serializers.DecimalField(
        **SUM, allow_null=True, help_text="B2C utility account balance at its last reading (any date)."
    )
    last_known_float_at = serializers.DateTimeField(allow_null=True, help_text="When that reading was taken.")


class CallbackSummarySerializer(serializers.ModelSerializer):
    # The token in a callback path is a secret: shown as the admin shows it (first six characters).
    path = serializers.SerializerMethodField(help_text="The path posted to, its token masked.")

    def get_path(self, obj: DarajaCallback) -> str:
        return mask_callback_tokens(obj.path)

    class Meta:
        model = DarajaCallback
        fields = [
            "id",
            "kind",
            "outcome",
            "received_at",
            "path",
            "source_ip",
            "originator_conversation_id",
            "conversation_id",
            "transaction_id",
            "result_code",
            "mismatch",
            "error",
            "attempts",
            "next_attempt_at",
            "payout",
            "payment",
        ]
        read_only_fields = fields


class DiscrepancySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DiscrepancyKind.ALL)
    object_type = serializers.ChoiceField(
        choices=["payout", "payment", "callback", "ledger_transaction", "float_check", "pull_finding"]
    )
    object_id = serializers.IntegerField()
    since = serializers.DateTimeField(help_text="When the problem started (status change, receipt, creation).")
    message = serializers.CharField(help_text="One sentence for the person who will deal with it.")
    object = serializers.JSONField(help_text="The payout, payment or callback, as its own endpoint shows it.")


class DiscrepancyQuerySerializer(serializers.Serializer):
    kind = serializers.MultipleChoiceField(choices=DiscrepancyKind.ALL, required=False)
