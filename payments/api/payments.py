"""Incoming payments, read side: `GET /api/payments/` and `GET /api/payments/{id}/` (view_payment needed)."""

from __future__ import annotations

from rest_framework import mixins, viewsets

from core.api_pagination import NewestFirstPagination
from payments import selectors
from payments.api.actions import PaymentActionsMixin
from payments.api.filters import PaymentFilter
from payments.api.permissions import CanReadPayments
from payments.api.serializers import PaymentSerializer


class PaymentViewSet(PaymentActionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Payments newest first, with what of each can still be refunded."""

    serializer_class = PaymentSerializer
    permission_classes = [CanReadPayments]
    filterset_class = PaymentFilter
    pagination_class = NewestFirstPagination

    def get_queryset(self):
        return selectors.payment_list()
