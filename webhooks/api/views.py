"""`/api/webhook-endpoints/` and `/api/events/`: thin callers of webhooks/services. Endpoints are gated by
the `webhooks.manage_webhooks` permission (superusers have it); the events feed follows the read permissions:
a payout role reads the events of what it may view (payouts, payments), `manage_webhooks` reads them all."""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from core.api_throttles import TolerantScopedRateThrottle
from payments.api.permissions import admin_user
from payments.roles import VIEW_PAYMENTS, VIEW_PAYOUTS
from webhooks.addresses import RefusedURL
from webhooks.api.serializers import (
    EventListSerializer,
    RotatedSecretSerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
    WebhookEventSerializer,
)
from webhooks.models import MANAGE_PERMISSION, WebhookEvent
from webhooks.services.endpoints import (
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_update,
    endpoints_all,
)

EVENT_ID = re.compile("evt_[0-9a-f]{32}")


class CanReadEvents(BasePermission):
    message = "You need a payout role (view permission on payouts or payments), or manage_webhooks, to read events."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if admin_user(user) and (user.has_perm(VIEW_PAYOUTS) or user.has_perm(VIEW_PAYMENTS)):
            return True
        return bool(user and user.is_authenticated and user.is_active and user.has_perm(MANAGE_PERMISSION))


def readable_events(user):
    """The events about what `user` may view: a payout's events need the payouts view, a payment's the payments
    view; `manage_webhooks` (an integrator's system, which receives them all by webhook anyway) reads every one."""
    if user.has_perm(MANAGE_PERMISSION):
        return WebhookEvent.objects.all()
    allowed = Q(pk__in=[])
    if user.has_perm(VIEW_PAYOUTS):
        allowed |= Q(payout__isnull=False)
    if user.has_perm(VIEW_PAYMENTS):
        allowed |= Q(payout__isnull=True, payment__isnull=False)
    return WebhookEvent.objects.filter(allowed)


class CanManageWebhooks(BasePermission):
    message = "You do not have permission to manage webhooks."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.has_perm(MANAGE_PERMISSION))


@extend_schema_view(
    create=extend_schema(responses={201: WebhookEndpointCreatedSerializer},
                         description="Register an endpoint. The answer holds its signing `secret`, shown only once."),
    partial_update=extend_schema(description="Change `url`, `events`, `description` or `enabled`. Enabling a "
                                             "disabled endpoint sends the deliveries that waited."),
)
class WebhookEndpointViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Where events are sent. The secret is never shown after create (or rotate)."""

    permission_classes = [IsAuthenticated, CanManageWebhooks]
    serializer_class = WebhookEndpointSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    pagination_class = None
    throttle_scope = "webhook_manage"

    def get_throttles(self):
        # Each change resolves a host name and may queue deliveries: bounded per person; reads are not.
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            return [TolerantScopedRateThrottle()]
        return super().get_throttles()

    def get_queryset(self):
        return endpoints_all()

    def create(self, request, *args, **kwargs):
        serializer = WebhookEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            endpoint, secret = endpoint_create(created_by=request.user, **serializer.validated_data)
        except RefusedURL as exc:  # the host's addresses changed since the serializer looked
            raise ValidationError({"url": [str(exc)]}) from None
        body = WebhookEndpointSerializer(endpoint).data
        return Response({**body, "secret": secret}, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        endpoint = self.get_object()
        serializer = WebhookEndpointSerializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            endpoint = endpoint_update(endpoint_id=endpoint.pk, changes=serializer.validated_data)
        except RefusedURL as exc:
            raise ValidationError({"url": [str(exc)]}) from None
        return Response(WebhookEndpointSerializer(endpoint).data)

    def destroy(self, request, *args, **kwargs):
        endpoint_delete(endpoint_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={200: RotatedSecretSerializer},
        description="A new signing secret (shown only in this answer); the old one keeps signing, as a "
        "second v1= value, for 24 hours.",
    )
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        endpoint = self.get_object()
        with transaction.atomic():
            secret, until = endpoint_rotate_secret(endpoint_id=endpoint.pk)
        return Response(RotatedSecretSerializer({"secret": secret, "previous_valid_until": until}).data)


class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every event in the order it happened, so a system that was down can catch up without webhooks."""

    permission_classes = [IsAuthenticated, CanReadEvents]
    serializer_class = WebhookEventSerializer
    lookup_field = "event_id"
    lookup_value_regex = EVENT_ID.pattern
    page_size, max_page_size = 100, 500
    queryset = WebhookEvent.objects.all()

    def get_queryset(self):
        return readable_events(self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter("after", str, description="An event id: only events after it (exclusive)."),
            OpenApiParameter("page_size", int, description="At most 500 (default 100)."),
        ],
        responses={200: EventListSerializer},
    )
    def list(self, request, *args, **kwargs):
        events = self.get_queryset().order_by("id")
        after = request.query_params.get("after")
        if after and not EVENT_ID.fullmatch(after):
            # A NUL byte would reach PostgreSQL (DataError, a 500); nothing but an event id can match anyway.
            raise ValidationError({"after": ["Give an event id (evt_ and 32 hexadecimal digits)."]})
        if after:
            pk = WebhookEvent.objects.filter(event_id=after).values_list("pk", flat=True).first()
            if pk is None:
                raise NotFound("No event with that id.")
            events = events.filter(pk__gt=pk)
        try:
            size = max(1, min(int(request.query_params.get("page_size", self.page_size)), self.max_page_size))
        except ValueError:
            size = self.page_size
        page = list(events[: size + 1])
        more, page = len(page) > size, page[:size]
        next_url = None
        if more:
            next_url = replace_query_param(request.build_absolute_uri(), "after", page[-1].event_id)
        return Response({"next": next_url, "results": WebhookEventSerializer(page, many=True).data})
