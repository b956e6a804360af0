"""`/api/operator/...`: operator credential health (payments/payouts/operator_health.py,
docs/operator-health.md), superusers only.

- `GET /api/operator/` the active set's state (as `operator` in `GET /api/dashboard/`);
- `GET /api/operator/{set}/failed/` the payouts of a set that failed because M-Pesa refused its operator;
- `POST /api/operator/{set}/reinstate/` (X-OTP) a balance query probe; the set is up only if it is accepted;
- `POST /api/operator/{set}/request-again/` (X-OTP) "Request all again": each failed one a new pending payout.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.api.actions import OTP_PARAMETER
from payments.api.dashboard import OperatorSerializer
from payments.api.permissions import admin_user
from payments.api.serializers import PayoutSerializer
from payments.models import EventSource
from payments.payouts.operator_health import (
    operator_refused_payouts,
    operator_reinstate,
    operator_request_all_again,
    operator_state,
)
from payments.second_factor import require_api_code

REQUESTED = inline_serializer("OperatorRequestedAgain", {"requested": serializers.ListField(
    child=serializers.IntegerField(), help_text="The ids of the new payouts, each waiting for its approvals.")})


class IsSuperuser(BasePermission):
    message = "Only a superuser may read or change the operator credentials' health."

    def has_permission(self, request, view) -> bool:
        return admin_user(request.user) and request.user.is_superuser


class OperatorStateView(APIView):
    permission_classes = [IsSuperuser]

    @extend_schema(responses=OperatorSerializer, operation_id="operator_retrieve")
    def get(self, request: Request) -> Response:
        """The active credential set's operator state: up or down, since when and why."""
        return Response(operator_state().as_dict())


class OperatorFailedView(APIView):
    permission_classes = [IsSuperuser]

    @extend_schema(responses=PayoutSerializer(many=True), operation_id="operator_failed_list")
    def get(self, request: Request, set_id: int) -> Response:
        """The set's payouts that failed because M-Pesa refused its operator, not yet requested again."""
        payouts = operator_refused_payouts(set_id)
        return Response(PayoutSerializer(payouts, many=True, context={"request": request}).data)


class OperatorReinstateView(APIView):
    permission_classes = [IsSuperuser]

    @extend_schema(parameters=[OTP_PARAMETER], request=None, responses={200: OperatorSerializer,
                                                                       409: OperatorSerializer})
    def post(self, request: Request, set_id: int) -> Response:
        """Probe the set with a balance query; 200 with `state` up when accepted, 409 when still refused."""
        require_api_code(request, what="reinstate operator credentials")
        state = operator_reinstate(set_id=set_id, actor=request.user, source=EventSource.API)
        code = status.HTTP_200_OK if state.state == "up" else status.HTTP_409_CONFLICT
        body = state.as_dict()
        if state.state != "up":
            body["detail"] = "M-Pesa refused the probe (a balance query): the set stays down. Check the operator " \
                             "in the org portal and the set's password and SecurityCredential."
        return Response(body, status=code)


class OperatorRequestAgainView(APIView):
    permission_classes = [IsSuperuser]

    @extend_schema(parameters=[OTP_PARAMETER], request=None, responses={201: REQUESTED})
    def post(self, request: Request, set_id: int) -> Response:
        """Request every refused payout of the set again: new payouts waiting for their approvals."""
        require_api_code(request, what="request payouts again")
        created = operator_request_all_again(set_id=set_id, actor=request.user, source=EventSource.API)
        return Response({"requested": [payout.pk for payout in created]}, status=status.HTTP_201_CREATED)
