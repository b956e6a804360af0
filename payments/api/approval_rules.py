"""`/api/approval-rules/`: the approval rules (payments/payouts/approval_rules.py), superusers only. Reading
needs nothing more; a change (POST, PATCH, DELETE) also asks the second factor (X-OTP), like a payout approval,
and is recorded in the audit trail with its old and new values."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from core.errors import NotFound
from core.money import MONEY
from payments.api.actions import OTP_PARAMETER
from payments.api.permissions import admin_user
from payments.models import ApprovalRule, ApprovalSource, EventSource, PayoutRail
from payments.payouts.approval_rules import approval_rule_delete, approval_rule_save
from payments.second_factor import require_api_code


class IsSuperuser(BasePermission):
    message = "Only a superuser may read or change the approval rules."

    def has_permission(self, request, view) -> bool:
        return admin_user(request.user) and request.user.is_superuser


class ApprovalRuleSerializer(serializers.ModelSerializer):
    rail = serializers.ChoiceField(choices=["", *PayoutRail.values], required=False, allow_blank=True)
    source = serializers.ChoiceField(choices=["", *ApprovalSource.values], required=False, allow_blank=True)
    min_amount = serializers.DecimalField(**MONEY, required=False, min_value=Decimal("0"))
    max_amount = serializers.DecimalField(**MONEY, required=False, allow_null=True, min_value=Decimal("0"))
    approvals = serializers.IntegerField(required=False, min_value=1, max_value=5)
    changed_by = serializers.CharField(source="changed_by.get_username", read_only=True, default=None)

    class Meta:
        model = ApprovalRule
        fields = ["id", "name", "position", "rail", "source", "min_amount", "max_amount", "approvals",
                  "manager_group", "active", "changed_by", "changed_at"]
        read_only_fields = ["id", "changed_by", "changed_at"]


class ApprovalRuleViewSet(viewsets.ViewSet):
    """The rules, lowest position first: the first active one whose rail, source and amount range fit a request
    decides its approvals; none fitting, PAYOUT_DUAL_APPROVAL_THRESHOLD does (docs/approval-rules.md)."""

    permission_classes = [IsSuperuser]
    serializer_class = ApprovalRuleSerializer
    queryset = ApprovalRule.objects.all()  # only for the OpenAPI schema: it gives the type of {id}

    def _rule(self, pk) -> ApprovalRule:
        rule = ApprovalRule.objects.select_related("changed_by").filter(pk=int(pk) if str(pk).isdigit() else 0)
        if not rule.exists():
            raise NotFound(f"No approval rule #{pk}.")
        return rule.get()

    def list(self, request):
        rules = ApprovalRule.objects.select_related("changed_by").order_by("position", "id")
        return Response(ApprovalRuleSerializer(rules, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(ApprovalRuleSerializer(self._rule(pk)).data)

    @extend_schema(parameters=[OTP_PARAMETER])
    def create(self, request):
        data = self._valid(request, partial=False)
        rule = approval_rule_save(changed_by=request.user, values=data, source=EventSource.API)
        return Response(ApprovalRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[OTP_PARAMETER])
    def partial_update(self, request, pk=None):
        rule = self._rule(pk)
        data = self._valid(request, partial=True)
        rule = approval_rule_save(changed_by=request.user, values=data, rule_id=rule.pk, source=EventSource.API)
        return Response(ApprovalRuleSerializer(rule).data)

    @extend_schema(parameters=[OTP_PARAMETER])
    def destroy(self, request, pk=None):
        rule = self._rule(pk)
        require_api_code(request, what="change the approval rules")
        approval_rule_delete(changed_by=request.user, rule_id=rule.pk, source=EventSource.API)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _valid(self, request, *, partial: bool) -> dict:
        serializer = ApprovalRuleSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        require_api_code(request, what="change the approval rules")
        return dict(serializer.validated_data)
