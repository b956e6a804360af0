"""Webhook endpoints and events as the REST API shows them. The signing secret appears only in the answers
to create and rotate."""

from __future__ import annotations

import json

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from payments.api.serializers import PaymentSerializer, PayoutDetailSerializer
from webhooks.addresses import RefusedURL, validate_endpoint_url
from webhooks.models import ALL_EVENTS, EventType, WebhookEndpoint, WebhookEvent


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=[ALL_EVENTS, *EventType.values]),
        allow_empty=False,
        help_text='Event types to send; ["*"] for every type.',
    )
    rotating_until = serializers.DateTimeField(
        source="previous_secret_expires_at", read_only=True, allow_null=True,
        help_text="While set and in the future, deliveries carry a second v1= signature made with the old secret.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id", "url", "events", "description", "enabled", "consecutive_failures", "disabled_reason",
            "disabled_at", "rotating_until", "created_at", "updated_at",
        ]
        read_only_fields = ["id", "consecutive_failures", "disabled_reason", "disabled_at", "created_at",
                            "updated_at"]

    def validate_url(self, value: str) -> str:
        try:
            validate_endpoint_url(value)
        except RefusedURL as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        unique = list(dict.fromkeys(value))
        return [ALL_EVENTS] if ALL_EVENTS in unique else unique


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret. Shown only in this answer.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class RotatedSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret. Shown only in this answer.")
    previous_valid_until = serializers.DateTimeField(help_text="The old secret keeps signing until then.")


EVENT_DATA = PolymorphicProxySerializer(
    component_name="WebhookEventData",
    serializers=[PayoutDetailSerializer, PaymentSerializer],
    resource_type_field_name=None,
)


@extend_schema_field(EVENT_DATA)
class EventDataField(serializers.DictField):
    pass


class WebhookEventSerializer(serializers.Serializer):
    """Exactly the body every delivery of the event sends."""

    id = serializers.CharField(help_text="Unique, and the same on every attempt and replay (evt_...).")
    type = serializers.ChoiceField(choices=EventType.choices)
    created = serializers.DateTimeField()
    data = EventDataField(help_text="payment.received: the payment as GET /api/payments/{id}/ gives it; "
                                           "every other type: the payout as GET /api/payouts/{id}/ gives it.")

    def to_representation(self, instance: WebhookEvent) -> dict:
        return json.loads(instance.body)


class EventListSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page (?after=<last id of this one>), or null.")
    results = WebhookEventSerializer(many=True)
