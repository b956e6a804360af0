"""The write side of the API: refunds, reversals, disbursements, approvals and STK pushes.

Views only parse input and call the service functions (the same ones the admin calls), which enforce
every rule and raise PayoutError; the exception handler turns that into a clean 400/403/409.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api_throttles import TolerantScopedRateThrottle
from core.errors import NotFound, PayoutError
from core.money import MONEY
from core.phone import InvalidPhoneNumber, normalize_msisdn
from payments import selectors
from payments.api.idempotency import idempotent
from payments.api.permissions import CanApprove, CanRequest
from payments.api.serializers import PaymentSerializer, PayoutDetailSerializer
from payments.incoming import stk
from payments.models import CommandID, EventSource, PayoutRail
from payments.payouts import services as payout_services
from payments.payouts.limits import validate_amount
from payments.payouts.rails import DISBURSEMENT_RAILS, payee_problems
from payments.payouts.reversals import payment_reverse
from payments.recipients.paying import recipient_payout_request
from payments.second_factor import require_api_code
from payments.validators import kenyan_phone, payable_amount

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Retrying with the same key returns the first answer; the same key with another body is a 422.",
)
OTP_PARAMETER = OpenApiParameter(
    "X-OTP", str, OpenApiParameter.HEADER, required=False,
    description="A fresh code from your authenticator app; required of approvers and superusers while "
    "ADMIN_REQUIRE_2FA is on (403 without it, or with a code already used).",
)


# Every field is checked on its own before the service runs, so one 400 names every bad field (the service
# checks them all again, and the rules that span fields, such as a refund's remainder and the daily limits).
class RefundRequestSerializer(serializers.Serializer):
    amount = serializers.DecimalField(**MONEY, required=False, min_value=Decimal("0.01"),
                                      validators=[payable_amount], help_text="Default: the refundable remainder.")
    reason = serializers.CharField(min_length=3, max_length=500)
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True, validators=[kenyan_phone],
                                  help_text="Default: the phone that paid (required when it was masked).")


def future_moment(value):
    if value is not None and value <= timezone.now():
        raise serializers.ValidationError("Send after must be in the future.")


class ReversalRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=3, max_length=500)


class DisbursementRequestSerializer(serializers.Serializer):
    rail = serializers.ChoiceField(
        choices=DISBURSEMENT_RAILS, default=PayoutRail.MOBILE,
        help_text="How it is paid: mobile (B2C), pochi, paybill, till or float_topup (docs/rails.md).")
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True,
                                  help_text="mobile and pochi: the number paid.")
    party_b = serializers.CharField(max_length=12, required=False, allow_blank=True,
                                    help_text="paybill and till: the business number (5-7 digits).")
    account_reference = serializers.CharField(max_length=20, required=False, allow_blank=True,
                                              help_text="paybill: the account at the business (1-13 characters).")
    amount = serializers.DecimalField(**MONEY, min_value=Decimal("0.01"))
    command_id = serializers.ChoiceField(choices=CommandID.choices, required=False,
                                         help_text="mobile only (default BusinessPayment); other rails fix it.")
    remarks = serializers.CharField(min_length=2, max_length=100)
    occasion = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    recipient_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    recipient_reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    recipient_type = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    recipient = serializers.IntegerField(
        required=False, min_value=1,
        help_text="A saved, active recipient's id, in place of rail and payee fields: they are copied from it.")
    send_after = serializers.DateTimeField(
        required=False, allow_null=True, default=None, validators=[future_moment],
        help_text="Not sent before this moment (ISO 8601 with its offset, e.g. 2026-12-24T09:00:00+03:00).")

    # Copied from the recipient when one is named: giving them too is refused.
    FROM_RECIPIENT = ("rail", "phone", "party_b", "account_reference", "recipient_name", "recipient_reference",
                      "recipient_type")

    def to_internal_value(self, data):
        # Each rail takes its own payee fields and refuses the others, and its amount limits are its account's:
        # those problems are added to the fields' own, so one 400 names every bad field.
        problems: dict = {}
        attrs = None
        try:
            attrs = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            problems = dict(exc.detail)
        raw = data if hasattr(data, "get") else {}
        rail = raw.get("rail") or PayoutRail.MOBILE
        if raw.get("recipient") not in (None, ""):
            for field in self.FROM_RECIPIENT:
                if raw.get(field) not in (None, ""):
                    problems.setdefault(field, [f"{field} comes from the recipient: leave it out."])
        elif "rail" not in problems:
            for field, message in self._rail_problems(rail, raw).items():
                problems.setdefault(field, [message])
        if problems:
            raise serializers.ValidationError(problems)
        return attrs

    def _rail_problems(self, rail: str, raw) -> dict[str, str]:
        problems = payee_problems(rail, {f: str(raw.get(f) or "") for f in ("phone", "party_b", "account_reference")})
        if raw.get("command_id") and rail != PayoutRail.MOBILE:
            problems["command_id"] = f"A {rail} payout's CommandID is fixed by its rail; leave command_id out."
        try:
            validate_amount(self.fields["amount"].run_validation(raw.get("amount")), rail=rail)
        except serializers.ValidationError:
            pass  # the field's own message is already there
        except PayoutError as exc:
            problems["amount"] = exc.message
        return problems


class PayoutEditSerializer(serializers.Serializer):
    """The fields `PATCH /api/payouts/{id}/` may change (payout_update, as the admin's Edit form)."""

    phone = serializers.CharField(max_length=20, required=False)
    party_b = serializers.CharField(max_length=12, required=False)
    account_reference = serializers.CharField(max_length=20, required=False, allow_blank=True)
    amount = serializers.DecimalField(**MONEY, required=False, min_value=Decimal("0.01"))
    command_id = serializers.ChoiceField(choices=CommandID.choices, required=False)
    remarks = serializers.CharField(max_length=100, required=False)
    occasion = serializers.CharField(max_length=100, required=False, allow_blank=True)
    recipient_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    recipient_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                f"These fields cannot be edited: {', '.join(unknown)}. Editable: {', '.join(self.fields)}."
            )
        if not attrs:
            raise serializers.ValidationError(f"Give at least one field to change: {', '.join(self.fields)}.")
        return attrs


class ApproveSerializer(serializers.Serializer):
    name_confirmed = serializers.BooleanField(
        required=False, default=False,
        help_text='"I have checked the name": required (true) when name_check_status is mismatch or not_found.')


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class StkPushSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=20)
    amount = serializers.DecimalField(**MONEY, min_value=Decimal("1"))
    account_reference = serializers.CharField(max_length=12)
    description = serializers.CharField(max_length=13, required=False, allow_blank=True, default="")

    def validate_phone(self, value: str) -> str:
        try:
            return normalize_msisdn(value)
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_amount(self, value: Decimal) -> Decimal:
        if value != value.to_integral_value():
            raise serializers.ValidationError("M-Pesa takes whole shillings.")
        return value


def _payout_response(payout, code=status.HTTP_200_OK) -> Response:
    payout = selectors.payout_detail().get(pk=payout.pk)
    return Response(PayoutDetailSerializer(payout).data, status=code)


class PaymentActionsMixin:
    """Adds `POST /api/payments/{id}/refund/`, `POST /api/payments/{id}/reverse/` and
    `POST /api/payments/stk-push/`."""

    throttle_scope = "payout_create"  # used by the actions that list a throttle

    @extend_schema(request=RefundRequestSerializer, responses={201: PayoutDetailSerializer},
                   parameters=[IDEMPOTENCY_HEADER])
    @action(detail=True, methods=["post"], permission_classes=[CanRequest],
            throttle_classes=[TolerantScopedRateThrottle])
    def refund(self, request, pk=None):
        """Request a refund of a completed payment; it waits for another person's approval."""
        data = _valid(RefundRequestSerializer, request)

        def create():
            payout = payout_services.payment_refund(
                payment_id=_int(pk), requested_by=request.user, reason=data["reason"], amount=data.get("amount"),
                phone=data.get("phone") or None, source=EventSource.API,
            )
            return _payout_response(payout, status.HTTP_201_CREATED)

        return idempotent(request, scope=f"refund:{pk}", handler=create)

    @extend_schema(request=ReversalRequestSerializer, responses={201: PayoutDetailSerializer},
                   parameters=[IDEMPOTENCY_HEADER])
    @action(detail=True, methods=["post"], permission_classes=[CanRequest],
            throttle_classes=[TolerantScopedRateThrottle])
    def reverse(self, request, pk=None):
        """Request the reversal of a completed C2B or STK payment: its whole amount goes back to the payer by the
        Reversal API once another person approves. 409 with the reason for a payment that is not completed, has no
        receipt, is reversed or being reversed, or has a refund reserved or paid."""
        data = _valid(ReversalRequestSerializer, request)

        def create():
            payout = payment_reverse(payment_id=_int(pk), requested_by=request.user, reason=data["reason"],
                                     source=EventSource.API)
            return _payout_response(payout, status.HTTP_201_CREATED)

        return idempotent(request, scope=f"reverse:{pk}", handler=create)

    @extend_schema(request=StkPushSerializer, responses={201: PaymentSerializer})
    @action(detail=False, methods=["post"], url_path="stk-push", permission_classes=[CanRequest],
            throttle_classes=[TolerantScopedRateThrottle])
    def stk_push(self, request):
        """Ask a customer to pay by STK push: a pending payment, settled by its callback."""
        data = _valid(StkPushSerializer, request)
        payment = stk.payment_stk_push_request(
            phone=data["phone"], amount=data["amount"], account_reference=data["account_reference"],
            description=data["description"],
        )
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


class PayoutActionsMixin:
    """Adds `POST /api/payouts/` (a disbursement), `PATCH /api/payouts/{id}/` (an edit) and
    `POST /api/payouts/{id}/approve|reject/`."""

    throttle_scope = "payout_create"

    def get_throttles(self):
        if self.action == "create":
            return [TolerantScopedRateThrottle()]
        return super().get_throttles()

    def get_permissions(self):
        if self.action in ("create", "partial_update"):
            return [CanRequest()]
        return super().get_permissions()

    @extend_schema(request=DisbursementRequestSerializer, responses={201: PayoutDetailSerializer},
                   parameters=[IDEMPOTENCY_HEADER])
    def create(self, request):
        """Request a disbursement (to a trainer, client or supplier); it waits for approval."""
        data = _valid(DisbursementRequestSerializer, request)

        def create():
            payout = _request_disbursement(request.user, dict(data))
            return _payout_response(payout, status.HTTP_201_CREATED)

        return idempotent(request, scope="payout_create", handler=create)

    @extend_schema(request=PayoutEditSerializer, responses={200: PayoutDetailSerializer})
    def partial_update(self, request, pk=None):
        """Edit a payout not yet sent (pending approval or approved), as the admin's Edit form does: changing the
        amount, phone or CommandID voids every approval given so far (it is back in `pending_approval`), and
        whoever changed them may no longer approve it. 409 once it is being sent or later."""
        data = _valid(PayoutEditSerializer, request)
        payout = payout_services.payout_update(payout_id=_int(pk), updated_by=request.user, source=EventSource.API,
                                               **data)
        return _payout_response(payout)

    @extend_schema(request=ApproveSerializer, responses={200: PayoutDetailSerializer}, parameters=[OTP_PARAMETER])
    @action(detail=True, methods=["post"], permission_classes=[CanApprove])
    def approve(self, request, pk=None):
        """Approve a payout someone else requested (and nobody you changed: an editor of its amount, phone or
        CommandID may not approve it). It stays `pending_approval` while a second approval is
        still needed (at or above PAYOUT_DUAL_APPROVAL_THRESHOLD). When the name check found another name
        (`name_check_status` mismatch or not_found), `name_confirmed: true` is required (409 without it)."""
        data = _valid(ApproveSerializer, request)
        require_api_code(request, what="approve payouts")
        payout = payout_services.payout_approve(payout_id=_int(pk), approved_by=request.user, source=EventSource.API,
                                                name_confirmed=data["name_confirmed"])
        return _payout_response(payout)

    @extend_schema(request=RejectSerializer, responses={200: PayoutDetailSerializer}, parameters=[OTP_PARAMETER])
    @action(detail=True, methods=["post"], permission_classes=[CanApprove])
    def reject(self, request, pk=None):
        data = _valid(RejectSerializer, request)
        require_api_code(request, what="reject payouts")
        payout = payout_services.payout_reject(payout_id=_int(pk), rejected_by=request.user, reason=data["reason"],
                                               source=EventSource.API)
        return _payout_response(payout)


def _request_disbursement(user, data: dict):
    recipient_id = data.pop("recipient", None)
    if recipient_id is None:
        return payout_services.payout_request_disbursement(requested_by=user, source=EventSource.API, **data)
    return recipient_payout_request(
        recipient_id=recipient_id, requested_by=user, source=EventSource.API, amount=data["amount"],
        remarks=data["remarks"], occasion=data["occasion"], command_id=data.get("command_id"),
        send_after=data.get("send_after"))


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _int(pk) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
