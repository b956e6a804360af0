"""`POST /api/batches/{id}/approve/`: approve a bulk batch in one step, with one X-OTP code for the whole batch;
each payout is still approved on its own (payments/payouts/batch_approval.py)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.api.actions import OTP_PARAMETER
from payments.api.permissions import CanApprove
from payments.models import EventSource
from payments.payouts.batch_approval import batch_approve
from payments.second_factor import require_api_code


def _rows():
    return serializers.ListField(child=serializers.DictField(child=serializers.CharField()))


class BatchApproveView(APIView):
    permission_classes = [CanApprove]

    @extend_schema(
        request=None,
        parameters=[OTP_PARAMETER],
        responses={200: inline_serializer("BatchApproval", {
            "batch": serializers.IntegerField(),
            "approved": serializers.ListField(child=serializers.IntegerField()),
            "waiting": _rows(),
            "refused": _rows(),
        })},
    )
    def post(self, request, batch_id: int):
        """Approve every payout of the batch still pending approval. `approved`: now approved and queued to send;
        `waiting`: your approval is recorded, another is needed (why); `refused`: not approved by you (why: you
        requested it, changed it, approved it already...)."""
        require_api_code(request, what="approve payouts")
        result = batch_approve(batch_id=batch_id, approved_by=request.user, source=EventSource.API)
        return Response(result.as_dict())
