"""Webhooks in the admin: endpoints with their recent deliveries, replays of one event or of everything since
a time, and rotation. Every change is a call to webhooks/services; `webhooks.manage_webhooks` is required."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html, format_html_join

from webhooks.addresses import RefusedURL, validate_endpoint_url
from webhooks.models import ALL_EVENTS, MANAGE_PERMISSION, EventType, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services.delivery import webhook_replay, webhook_replay_since
from webhooks.services.endpoints import endpoint_create, endpoint_rotate_secret, endpoint_update

RECENT = 20


class _Gated:
    def _allowed(self, request) -> bool:
        return request.user.is_active and request.user.has_perm(MANAGE_PERMISSION)

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=[(ALL_EVENTS, "All events"), *EventType.choices], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "description", "enabled"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            validate_endpoint_url(url)
        except RefusedURL as exc:
            raise ValidationError(str(exc)) from None
        return url

    def clean_events(self):
        events = list(self.cleaned_data["events"])
        return [ALL_EVENTS] if ALL_EVENTS in events else events


class ReplaySinceForm(forms.Form):
    since = forms.DateTimeField(help_text="Every event from this time on (Nairobi time), e.g. 2026-07-01 08:00.")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_Gated, admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "enabled", "events_list", "consecutive_failures", "disabled_reason", "created_at"]
    list_filter = ["enabled"]
    readonly_fields = ["consecutive_failures", "disabled_reason", "disabled_at", "previous_secret_expires_at",
                       "created_by", "created_at", "replay_link", "recent_deliveries"]
    actions = ["rotate_secret"]

    @admin.display(description="Events")
    def events_list(self, obj: WebhookEndpoint) -> str:
        # The stored ["*"] is the API's spelling; a person reads "All events" and the events' own names.
        events = obj.events or []
        if ALL_EVENTS in events:
            return "All events"
        labels = dict(EventType.choices)
        return ", ".join(str(labels.get(event, event)) for event in events) or "None"

    def has_add_permission(self, request):
        return self._allowed(request)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request)

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in ("url", "events", "description", "enabled")}
        if change:
            endpoint_update(endpoint_id=obj.pk, changes=data)
            return
        endpoint, secret = endpoint_create(created_by=request.user, **data)
        obj.pk = endpoint.pk
        request.webhook_secrets_shown = [{"endpoint": endpoint, "secret": secret, "previous_until": None}]

    def response_add(self, request, obj, post_url_continue=None):
        shown = getattr(request, "webhook_secrets_shown", None)
        if shown:
            return self._secrets_page(request, shown, title="Endpoint added")
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Rotate the signing secret (the old one signs for 24 more hours)")
    def rotate_secret(self, request, queryset):
        rows = []
        for endpoint in queryset:
            secret, until = endpoint_rotate_secret(endpoint_id=endpoint.pk)
            rows.append({"endpoint": endpoint, "secret": secret, "previous_until": until})
        return self._secrets_page(request, rows, title="Signing secrets rotated")

    def _secrets_page(self, request, rows: list[dict], *, title: str) -> TemplateResponse:
        # The page that answers the form shows the secret. A message would carry it through a redirect in the
        # messages cookie (signed, not encrypted: readable by anyone who sees the cookie) or the session.
        context = {**self.admin_site.each_context(request), "title": title, "rows": rows, "opts": self.model._meta}
        response = TemplateResponse(request, "admin/webhooks/secret_shown.html", context)
        add_never_cache_headers(response)
        return response

    @admin.display(description="Replay")
    def replay_link(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:webhooks_webhookendpoint_replay", args=[obj.pk])
        return format_html('<a href="{}">Replay every event since a time…</a>', url)

    @admin.display(description=f"Recent deliveries (last {RECENT})")
    def recent_deliveries(self, obj):
        if not obj.pk:
            return "-"
        rows = obj.deliveries.select_related("event").order_by("-id")[:RECENT]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            (
                (d.event.type, d.event.event_id, d.status, d.attempts, d.response_status or "-",
                 f"{d.latency_ms} ms" if d.latency_ms is not None else "-",
                 (d.response_excerpt or d.last_error)[:120])
                for d in rows
            ),
        )
        return format_html(
            "<table><tr><th>Event</th><th>Id</th><th>Status</th><th>Attempts</th><th>HTTP</th><th>Latency</th>"
            "<th>Answer (first bytes)</th></tr>{}</table>",
            body,
        )

    def get_urls(self):
        return [
            path("<int:pk>/replay/", self.admin_site.admin_view(self.replay_view),
                 name="webhooks_webhookendpoint_replay"),
            *super().get_urls(),
        ]

    def replay_view(self, request, pk: int):
        if not self._allowed(request):
            raise PermissionDenied
        endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
        form = ReplaySinceForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            made = webhook_replay_since(endpoint=endpoint, since=form.cleaned_data["since"])
            self.message_user(request, f"{made} event(s) queued again for {endpoint.url}.", messages.SUCCESS)
            return redirect("admin:webhooks_webhookendpoint_change", endpoint.pk)
        context = {**self.admin_site.each_context(request), "title": f"Replay events to {endpoint.url}",
                   "endpoint": endpoint, "form": form, "opts": self.model._meta}
        return TemplateResponse(request, "admin/webhooks/replay_since.html", context)


@admin.register(WebhookEvent)
class WebhookEventAdmin(_Gated, admin.ModelAdmin):
    list_display = ["event_id", "type", "object_key", "created_at"]
    list_filter = ["type"]
    search_fields = ["event_id", "object_key"]
    readonly_fields = ["event_id", "type", "object_key", "payout", "payment", "body", "created_at"]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        # Deleting is not offered, but the replay action is (it needs only the manage permission).
        actions = super().get_actions(request)
        if not self._allowed(request):
            return {}
        return actions

    @admin.action(description="Replay to every enabled endpoint subscribed to it")
    def replay(self, request, queryset):
        made = webhook_replay(events=queryset.order_by("id"))
        self.message_user(request, f"{made} deliver(ies) queued.", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_Gated, admin.ModelAdmin):
    list_display = ["id", "endpoint", "event", "status", "attempts", "response_status", "latency_ms",
                    "response_excerpt", "next_attempt_at", "created_at"]
    list_filter = ["status", "endpoint"]
    list_select_related = ["endpoint", "event"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Replay the event to this endpoint")
    def replay(self, request, queryset):
        made = 0
        for delivery in queryset.select_related("endpoint", "event").order_by("id"):
            made += webhook_replay(events=[delivery.event], endpoint=delivery.endpoint)
        self.message_user(request, f"{made} deliver(ies) queued.", messages.SUCCESS)
