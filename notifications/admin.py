"""The notification log (read-only, with a Resend action) and the WhatsApp recipients."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils.html import format_html

from notifications.models import ADMIN_ALERTS, Notification, NotificationRecipient, NotificationStatus
from notifications.numbers import InvalidWhatsAppNumber, normalize_whatsapp_number
from notifications.outbox import notifications_resend
from payments.roles import APPROVE_PERMISSION, REQUEST_PERMISSION


class NotificationRecipientForm(forms.ModelForm):
    alerts = forms.MultipleChoiceField(
        choices=[(alert.value, alert.label) for alert in ADMIN_ALERTS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Leave all unticked to keep the number but send it nothing (or untick Active).",
    )

    class Meta:
        model = NotificationRecipient
        fields = ["name", "phone", "alerts", "user", "is_active"]
        help_texts = {"phone": "International form: +254712345678, 254712345678 or 0712345678."}

    def clean_phone(self) -> str:
        try:
            return normalize_whatsapp_number(self.cleaned_data["phone"])
        except InvalidWhatsAppNumber as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(NotificationRecipient)
class NotificationRecipientAdmin(admin.ModelAdmin):
    form = NotificationRecipientForm
    list_display = ["name", "phone", "is_active", "alert_list", "user"]
    list_filter = ["is_active"]
    search_fields = ["name", "phone"]
    raw_id_fields = ["user"]

    @admin.display(description="Alerts")
    def alert_list(self, obj: NotificationRecipient) -> str:
        labels = dict((alert.value, alert.label) for alert in ADMIN_ALERTS)
        chosen = [labels.get(alert, alert) for alert in obj.alerts or []]
        if len(chosen) == len(ADMIN_ALERTS):
            return "All admin alerts"
        return ", ".join(chosen) or "None"


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "alert", "to", "status_badge", "attempts", "sent_at", "short_error"]
    list_filter = ["status", "alert", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["dedupe_key", "to", "provider_message_id", "body", "last_error"]
    date_hierarchy = "created_at"
    list_select_related = ["recipient"]
    actions = ["resend"]
    fields = [
        "alert",
        "status",
        "to",
        "recipient",
        "body",
        "template_params",
        "template_name",
        "attempts",
        "last_error",
        "provider_message_id",
        "dedupe_key",
        "payout",
        "payment",
        "created_at",
        "last_attempt_at",
        "next_attempt_at",
        "sent_at",
        "locked_until",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # Read-only for everyone (no Save button): the log is what was sent. Resending is its own permission.
    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("notifications.change_notification")

    def _sees_all(self, request) -> bool:
        return request.user.has_perm("notifications.view_notification")

    def _sees_own(self, request) -> bool:
        user = request.user
        return user.has_perm(REQUEST_PERMISSION) or user.has_perm(APPROVE_PERMISSION)

    def has_view_permission(self, request, obj=None) -> bool:
        # Approvers and requesters see the notifications about their payouts, without a notifications role.
        return self._sees_all(request) or self._sees_own(request)

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self._sees_all(request):
            return queryset
        user = request.user
        mine = Q(recipient__user=user)
        if user.has_perm(APPROVE_PERMISSION):
            mine |= Q(payout__isnull=False)  # approvers decide on every payout
        if user.has_perm(REQUEST_PERMISSION):
            mine |= Q(payout__requested_by=user)
        return queryset.filter(mine)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Notification) -> str:
        colours = {
            NotificationStatus.SENT: "#2e7d32",
            NotificationStatus.FAILED: "#c62828",
            NotificationStatus.PENDING: "#ef6c00",
        }
        return format_html('<b style="color:{}">{}</b>', colours.get(obj.status, "inherit"), obj.get_status_display())

    @admin.display(description="Last error")
    def short_error(self, obj: Notification) -> str:
        return (obj.last_error[:80] + "...") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description="Resend selected notifications (failed or stuck pending)", permissions=["resend"])
    def resend(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        count = notifications_resend(notification_ids=ids)
        skipped = len(ids) - count
        self.message_user(request, f"{count} notification(s) queued to send again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} skipped: already sent (a message is sent once) or being sent right now.",
                messages.WARNING,
            )
