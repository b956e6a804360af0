"""The finance team's ledger reads: `GET /api/ledger/accounts/`, `GET /api/ledger/accounts/{code}/entries/`
and `GET /api/ledger/trial-balance/?at=`; the four-eyes funding requests (top-ups, opening balances) and the
charges and transfers an uploaded statement proposes (`/api/ledger/statement-postings/`): each decision that
posts money asks the second factor in X-OTP, as a payout approval does.

Reads are for staff with the ledger's view permission (both payout groups have it) or superusers.
Money is a string with two decimals; times are ISO 8601 in Nairobi time.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.shortcuts import get_object_or_404
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from core.api_pagination import NewestFirstPagination
from core.api_throttles import TolerantScopedRateThrottle
from core.money import LEDGER_MONEY, RUNNING_TOTAL
from ledger import accounts, selectors
from ledger.export import NAIROBI
from ledger.models import Account, AccountType, Entry, FundingKind, FundingRequest, StatementProposal
from ledger.services import money, statement
from payments.api.actions import OTP_PARAMETER
from payments.second_factor import require_api_code
from payments.selectors import report_date_problem


class CanReadLedger(BasePermission):
    message = "You may not read the ledger."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and user.is_staff
            and (user.is_superuser or user.has_perm("ledger.view_account"))
        )


class AccountSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField(source="account.name")
    type = serializers.ChoiceField(choices=AccountType.choices, source="account.type")
    external_code = serializers.CharField(source="account.external_code")
    debits = serializers.DecimalField(**RUNNING_TOTAL)
    credits = serializers.DecimalField(**RUNNING_TOTAL)
    balance = serializers.DecimalField(**RUNNING_TOTAL, help_text="On the account's normal side (debit for assets and "
                                       "expenses, credit for liabilities, equity and income).")


class EntrySerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField()
    kind = serializers.CharField(source="transaction.kind")
    source = serializers.CharField(source="transaction.source")
    source_id = serializers.CharField(source="transaction.source_id")
    memo = serializers.CharField(source="transaction.memo")
    payout_id = serializers.IntegerField(source="transaction.payout_id", allow_null=True)
    payment_id = serializers.IntegerField(source="transaction.payment_id", allow_null=True)

    class Meta:
        model = Entry
        fields = ["id", "transaction_id", "posted_at", "kind", "source", "source_id", "memo", "debit", "credit",
                  "payout_id", "payment_id"]
        read_only_fields = fields


def _within_reports(value):
    # The day after 9999-12-31, or 0001-01-01 moved to UTC, does not exist: an OverflowError, not an answer.
    problem = report_date_problem(value.date() if isinstance(value, datetime) else value)
    if problem:
        raise serializers.ValidationError(problem)
    return value


class ReportDateTimeField(serializers.DateTimeField):
    """A date-time within the dates a report may ask for. DRF's own field raises OverflowError (a 500) on a
    naive 0001-01-01, which moved to UTC falls before year 1."""

    def __init__(self, **kwargs):
        super().__init__(validators=[_within_reports], **kwargs)

    def to_internal_value(self, value):
        try:
            return super().to_internal_value(value)
        except OverflowError:
            raise serializers.ValidationError(report_date_problem(date.min)) from None


class EntryQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="First day (Nairobi time), inclusive.",
                                  validators=[_within_reports])
    end = serializers.DateField(required=False, help_text="Last day (Nairobi time), inclusive.",
                                validators=[_within_reports])

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"end": "The end date is before the start date."})
        return attrs


class TrialBalanceQuerySerializer(serializers.Serializer):
    at = ReportDateTimeField(
        required=False, help_text="As of this moment (ISO 8601; a time without zone is Nairobi time). Default: now."
    )


class TrialBalanceSerializer(serializers.Serializer):
    at = serializers.DateTimeField(allow_null=True)
    debits = serializers.DecimalField(**RUNNING_TOTAL)
    credits = serializers.DecimalField(**RUNNING_TOTAL)
    balanced = serializers.BooleanField()
    lines = AccountSerializer(many=True)


class EntryPagination(NewestFirstPagination):
    """Newest first by (posted_at, id); served by the (account, posted_at, id) index. A forged cursor is a 404,
    as on every other list."""

    ordering = ("-posted_at", "-id")


class _SingleObjectSchema(AutoSchema):
    def _is_list_view(self, serializer=None) -> bool:
        return False


class AccountViewSet(viewsets.ViewSet):
    permission_classes = [CanReadLedger]
    lookup_field = "code"
    lookup_value_regex = "[A-Za-z0-9_.-]+"

    @extend_schema(responses=AccountSerializer(many=True))
    def list(self, request: Request) -> Response:
        """Every account with its balance now, by code."""
        return Response(AccountSerializer(selectors.account_list(), many=True).data)

    @extend_schema(parameters=[EntryQuerySerializer], responses=EntrySerializer(many=True))
    @action(detail=True, methods=["get"], url_path="entries")
    def entries(self, request: Request, code: str | None = None) -> Response:
        """The account's entries, newest first, cursor-paginated; `start`/`end` limit them to Nairobi days."""
        get_object_or_404(Account, code=code)
        query = EntryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data.get("start"), query.validated_data.get("end")
        entries = selectors.account_entries(
            code=code,
            start=datetime.combine(start, time.min, tzinfo=NAIROBI) if start else None,
            end=datetime.combine(end + timedelta(days=1), time.min, tzinfo=NAIROBI) if end else None,
        )
        paginator = EntryPagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(EntrySerializer(page, many=True).data)


class TrialBalanceViewSet(viewsets.ViewSet):
    permission_classes = [CanReadLedger]
    schema = _SingleObjectSchema()

    @extend_schema(parameters=[TrialBalanceQuerySerializer], responses=TrialBalanceSerializer)
    def list(self, request: Request) -> Response:
        """Debits and credits of every account as of `at` (default now): balanced when they are equal."""
        query = TrialBalanceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = selectors.trial_balance(at=query.validated_data.get("at"))
        return Response(TrialBalanceSerializer(result).data)


# --- Four eyes on funding ----------------------------------------------------------------------------------


class FundingRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = FundingRequest
        fields = ["id", "kind", "account", "amount", "receipt", "effective_at", "note", "status", "requested_by",
                  "decided_by", "decided_at", "transaction", "created_at"]
        read_only_fields = ["id", "status", "requested_by", "decided_by", "decided_at", "transaction", "created_at"]


class FundingCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=FundingKind.choices)
    amount = serializers.DecimalField(**LEDGER_MONEY, min_value=Decimal("0.01"))
    note = serializers.CharField(max_length=255)
    receipt = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    effective_at = ReportDateTimeField(required=False)
    account = serializers.ChoiceField(
        choices=list(accounts.FUNDABLE_ACCOUNTS.items()), default=accounts.MPESA_UTILITY,
        help_text="The M-Pesa account funded: mpesa_utility (the B2C float, the default) or mpesa_working (the "
        "Working account that pays paybills and tills and tops up the float).",
    )


class FundingRequestViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Top-ups and opening balances: one person requests, another approves (then it is posted)."""

    permission_classes = [CanReadLedger]
    serializer_class = FundingRequestSerializer
    queryset = FundingRequest.objects.all()
    pagination_class = NewestFirstPagination
    filter_backends: list = []

    throttle_scope = "funding_request"

    def get_queryset(self):
        return FundingRequest.objects.order_by("-created_at", "-id")

    def get_throttles(self):
        if self.action in ("create", "approve", "reject"):
            return [TolerantScopedRateThrottle()]
        return super().get_throttles()

    @extend_schema(request=FundingCreateSerializer, responses={201: FundingRequestSerializer})
    def create(self, request: Request) -> Response:
        data = FundingCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = money.funding_request_create(requested_by=request.user, **data.validated_data)
        return Response(FundingRequestSerializer(created).data, status=201)

    @extend_schema(request=None, responses=FundingRequestSerializer, parameters=[OTP_PARAMETER])
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk=None) -> Response:
        """Post a top-up or opening balance someone else requested: with ADMIN_REQUIRE_2FA, only with a fresh
        code in X-OTP, as a payout approval."""
        funding = self.get_object()  # an id that is no number is a 404, as an unknown one
        require_api_code(request, what="approve top-ups and opening balances")
        approved = money.funding_request_approve(request_id=funding.pk, user=request.user)
        return Response(FundingRequestSerializer(approved).data)

    @extend_schema(request=None, responses=FundingRequestSerializer, parameters=[OTP_PARAMETER])
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk=None) -> Response:
        funding = self.get_object()  # an id that is no number is a 404, as an unknown one
        require_api_code(request, what="reject top-ups and opening balances")
        rejected = money.funding_request_reject(request_id=funding.pk, user=request.user)
        return Response(FundingRequestSerializer(rejected).data)


class StatementProposalSerializer(serializers.ModelSerializer):
    class Meta:
        model = StatementProposal
        fields = ["id", "at", "receipt", "kind", "amount", "account", "details", "status", "proposed_by", "job",
                  "decided_by", "decided_at", "transaction", "created_at"]
        read_only_fields = fields


class StatementProposalViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The charges and transfers an uploaded statement proposes: `GET` lists them (date, receipt, kind, signed
    amount, status), another person than the uploader accepts or rejects each, with the second factor."""

    permission_classes = [CanReadLedger]
    serializer_class = StatementProposalSerializer
    queryset = StatementProposal.objects.all()
    pagination_class = NewestFirstPagination
    filter_backends: list = []

    def get_queryset(self):
        return StatementProposal.objects.order_by("-created_at", "-id")

    @extend_schema(request=None, responses=StatementProposalSerializer, parameters=[OTP_PARAMETER])
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk=None) -> Response:
        """Post it (nothing, when its receipt is already in the ledger). With ADMIN_REQUIRE_2FA, only with a
        fresh code in X-OTP."""
        proposal = self.get_object()  # an id that is no number is a 404, as an unknown one
        require_api_code(request, what="accept a statement's charges and transfers")
        accepted = statement.statement_proposal_accept(proposal_id=proposal.pk, user=request.user)
        return Response(StatementProposalSerializer(accepted).data)

    @extend_schema(request=None, responses=StatementProposalSerializer, parameters=[OTP_PARAMETER])
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk=None) -> Response:
        proposal = self.get_object()
        require_api_code(request, what="reject a statement's charges and transfers")
        rejected = statement.statement_proposal_reject(proposal_id=proposal.pk, user=request.user)
        return Response(StatementProposalSerializer(rejected).data)
