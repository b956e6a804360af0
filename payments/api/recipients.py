"""Saved recipients: `GET/POST /api/recipients/`, `GET/PATCH /api/recipients/{id}/` and
`POST /api/recipients/{id}/approve|reject|archive/`.

Views parse and call payments/recipients/services.py, which enforces the four eyes (the creator, or whoever
set how it is paid, may not approve it) and raises core.errors exceptions (4xx, nothing written). Approving or
rejecting is a money decision: the second factor (X-OTP) is asked as for a payout's.
"""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api_pagination import NewestFirstPagination
from core.errors import NotFound
from payments.api.actions import OTP_PARAMETER, RejectSerializer
from payments.api.permissions import CanApprove, CanReadPayouts, CanRequest
from payments.api.serializers import PartialChangeMixin, refuse_unknown_fields
from payments.models import RECIPIENT_RAILS, EventSource, Recipient, RecipientStatus
from payments.payouts.rails import payee_words
from payments.recipients import services
from payments.second_factor import require_api_code

_PAYEE_HELP = "mobile and pochi: phone; paybill: party_b and account_reference; till: party_b (docs/recipients.md)."


class RecipientSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.get_username", read_only=True)
    approved_by = serializers.CharField(source="approved_by.get_username", read_only=True, default=None)
    paid_as = serializers.SerializerMethodField(help_text="How it is paid, in words.")

    class Meta:
        model = Recipient
        fields = ["id", "name", "external_reference", "category", "notes", "rail", "phone", "party_b",
                  "account_reference", "paid_as", "status", "created_by", "created_at", "approved_by",
                  "approved_at", "archived_at", "archived_reason", "updated_at"]
        read_only_fields = fields

    def get_paid_as(self, obj: Recipient) -> str:
        return payee_words(**obj.payee())


class RecipientWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    rail = serializers.ChoiceField(choices=RECIPIENT_RAILS, help_text=_PAYEE_HELP)
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    party_b = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")
    account_reference = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    external_reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    category = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        refuse_unknown_fields(self)
        problems = services.recipient_payee_problems(attrs["rail"], attrs)
        if problems:
            raise serializers.ValidationError({f: [m.replace("payout", "recipient")] for f, m in problems.items()})
        return attrs


class RecipientChangeSerializer(PartialChangeMixin, RecipientWriteSerializer):
    """PATCH: any field may be left out; only those given change."""


class ArchiveSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RecipientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Saved recipients, newest first; `?status=` and `?search=` (name, reference, phone, number) narrow it."""

    serializer_class = RecipientSerializer
    lookup_value_regex = "[0-9]+"
    pagination_class = NewestFirstPagination
    filter_backends: list = []

    def get_permissions(self):
        if self.action in ("create", "partial_update", "archive"):
            return [CanRequest()]
        if self.action in ("approve", "reject"):
            return [CanApprove()]
        return [CanReadPayouts()]

    def get_queryset(self):
        queryset = Recipient.objects.select_related("created_by", "approved_by")
        wanted = self.request.query_params.get("status")
        if wanted in RecipientStatus.values:
            queryset = queryset.filter(status=wanted)
        search = (self.request.query_params.get("search") or "").strip()
        if search:
            queryset = queryset.filter(
                Q(name__icontains=search) | Q(external_reference__icontains=search) | Q(phone__contains=search)
                | Q(party_b=search) | Q(category__icontains=search)
            )
        return queryset

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=RecipientStatus.values),
                               OpenApiParameter("search", str)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=RecipientWriteSerializer, responses={201: RecipientSerializer})
    def create(self, request):
        """Save a recipient; it waits for another person's approval before it can be paid."""
        data = _valid(RecipientWriteSerializer, request)
        recipient = services.recipient_create(created_by=request.user, source=EventSource.API, **data)
        return _answer(recipient, status.HTTP_201_CREATED)

    @extend_schema(request=RecipientChangeSerializer, responses={200: RecipientSerializer})
    def partial_update(self, request, pk=None):
        """Change a recipient. Changing how it is paid (rail, phone, party_b, account_reference) puts it back
        to `pending_approval`; its name, reference, category or notes change at once."""
        data = _valid(RecipientChangeSerializer, request)
        recipient = services.recipient_change(recipient_id=_int(pk), changed_by=request.user,
                                              source=EventSource.API, **data)
        return _answer(recipient)

    @extend_schema(request=None, responses={200: RecipientSerializer}, parameters=[OTP_PARAMETER])
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve how a recipient is paid (not one you saved or changed): it becomes `active`."""
        require_api_code(request, what="approve recipients")
        recipient = services.recipient_approve(recipient_id=_int(pk), approved_by=request.user,
                                               source=EventSource.API)
        return _answer(recipient)

    @extend_schema(request=RejectSerializer, responses={200: RecipientSerializer}, parameters=[OTP_PARAMETER])
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Refuse a recipient's pending details: a new one is archived, a changed one goes back to what was
        last approved."""
        data = _valid(RejectSerializer, request)
        require_api_code(request, what="reject recipients")
        recipient = services.recipient_reject(recipient_id=_int(pk), rejected_by=request.user,
                                              reason=data["reason"], source=EventSource.API)
        return _answer(recipient)

    @extend_schema(request=ArchiveSerializer, responses={200: RecipientSerializer})
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        """Stop paying a recipient; its history stays."""
        data = _valid(ArchiveSerializer, request)
        recipient = services.recipient_archive(recipient_id=_int(pk), archived_by=request.user,
                                               reason=data["reason"], source=EventSource.API)
        return _answer(recipient)


def _answer(recipient: Recipient, code: int = status.HTTP_200_OK) -> Response:
    recipient = Recipient.objects.select_related("created_by", "approved_by").get(pk=recipient.pk)
    return Response(RecipientSerializer(recipient).data, status=code)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _int(pk) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError):
        raise NotFound() from None
