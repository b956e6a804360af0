"""Payouts (refunds and disbursements), read side: `GET /api/payouts/` and `GET /api/payouts/{id}/`.

Reading needs the view permission on payouts (either role); the request, edit, approve and reject actions
need their own (payments/api/permissions.py).
"""

from __future__ import annotations

from rest_framework import mixins, viewsets

from payments import selectors
from payments.api.actions import PayoutActionsMixin
from payments.api.filters import PayoutFilter
from payments.api.pagination import NewestFirstPagination
from payments.api.permissions import CanReadPayouts
from payments.api.serializers import PayoutDetailSerializer, PayoutSerializer


class PayoutViewSet(PayoutActionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Payouts newest first, each with its requester and active approvals; the detail adds the audit trail."""

    permission_classes = [CanReadPayouts]
    filterset_class = PayoutFilter
    pagination_class = NewestFirstPagination

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.payout_detail()
        return selectors.payout_list()

    def get_serializer_class(self):
        if self.action == "retrieve":
            return PayoutDetailSerializer
        return PayoutSerializer
