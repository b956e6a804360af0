"""The controls operators hold: the payouts kill switch and the B2C credentials kept in the database."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from core.console_kit import refused, when
from core.errors import ApplicationError
from payments.admin.operator_views import OperatorHealthViews, operator_page_url
from payments.daraja_credentials import credential_set_delete, credential_set_save
from payments.field_encryption import SECRET_FIELDS, encryption_configured
from payments.forms import DarajaCredentialSetForm, KillSwitchForm
from payments.models import AuditEvent, DarajaCredentialSet, EventSource, PayoutControl
from payments.payouts.services import payout_control_set
from payments.roles import can_approve, can_request


@admin.register(PayoutControl)
class PayoutControlAdmin(admin.ModelAdmin):
    """One page: is sending on or off, who switched it, when and why, and the switch itself."""

    def has_view_permission(self, request, obj=None) -> bool:
        return can_approve(request) or can_request(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:payments_payoutcontrol_changelist"))

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            return refused(request, "Only payout requesters and approvers can see the kill switch.")
        here = reverse("admin:payments_payoutcontrol_changelist")
        control = PayoutControl.objects.select_related("changed_by").filter(pk=1).first()
        paused = bool(control and control.paused)
        form = KillSwitchForm(pausing=not paused)
        if request.method == "POST":
            target = request.POST.get("paused") == "1"
            form = KillSwitchForm(request.POST, pausing=target)
            if target == paused:
                messages.info(request, "Payouts are already " + ("paused." if paused else "running."))
                return HttpResponseRedirect(here)
            if form.is_valid():
                try:
                    payout_control_set(
                        paused=target,
                        changed_by=request.user,
                        reason=form.cleaned_data["reason"],
                        source=EventSource.ADMIN,
                    )
                except ApplicationError as exc:
                    messages.error(request, exc.message)
                else:
                    messages.success(
                        request,
                        "Payouts PAUSED: approved payouts wait until they are resumed."
                        if target
                        else "Payouts resumed: approved payouts will be sent.",
                    )
                return HttpResponseRedirect(here)
        history = (
            AuditEvent.objects.filter(action__in=["payouts_paused", "payouts_resumed"])
            .select_related("actor")
            .order_by("-created_at", "-id")[:10]
        )
        return TemplateResponse(
            request,
            "admin/payments/payoutcontrol/kill_switch.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Payout kill switch",
                "control": control,
                "paused": paused,
                "paused_env": settings.PAYOUTS_PAUSED,
                "form": form,
                "can_switch": can_approve(request),
                "history": history,
                **(extra_context or {}),
            },
        )


@admin.register(DarajaCredentialSet)
class DarajaCredentialSetAdmin(OperatorHealthViews, admin.ModelAdmin):
    form = DarajaCredentialSetForm
    list_display = ["name", "active", "b2c_shortcode", "initiator_name", "secrets", "updated_by", "updated_at"]
    readonly_fields = ["updated_by", "updated_at", "operator_health"]

    def get_urls(self):
        return self.operator_urls() + super().get_urls()

    def get_fieldsets(self, request, obj=None):
        description = "Secrets are encrypted with FIELD_ENCRYPTION_KEY and never shown again."
        if not encryption_configured():
            description = (
                "<strong>FIELD_ENCRYPTION_KEY is not configured</strong>: secrets cannot be stored here "
                "until it is set in the environment. The environment's credentials are used."
            )
        fieldsets = [
            (None, {"fields": ["name", "active", "b2c_shortcode", "initiator_name"]}),
            ("Secrets (write-only)", {"description": description, "fields": [*SECRET_FIELDS, "clear"]}),
        ]
        if obj is not None:
            fieldsets.append(("Operator health", {"fields": ["operator_health"]}))
            fieldsets.append(("Changed", {"fields": ["updated_by", "updated_at"]}))
        return fieldsets

    @admin.display(description="Operator")
    def operator_health(self, obj: DarajaCredentialSet) -> str:
        state = (
            format_html("<strong>Down</strong> since {}: {}", when(obj.operator_down_since), obj.operator_down_reason)
            if obj.operator_down_since
            else format_html("<strong>Up</strong>: {} refusal(s) in a row.", obj.operator_refusals)
        )
        # The page behind the link is a superuser's (as /api/operator/...): it refuses anyone else.
        link = format_html(
            ' <a class="button" id="operator-page" href="{}">Refused payouts{}</a>',
            operator_page_url(obj.pk),
            " and Reinstate" if obj.operator_down_since else "",
        )
        return state + link

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "GET" and not encryption_configured():
            messages.warning(request, "FIELD_ENCRYPTION_KEY is not configured: secrets cannot be saved here.")
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.display(description="Secrets")
    def secrets(self, obj: DarajaCredentialSet) -> str:
        stored = [name.replace("_", " ") for name, column in SECRET_FIELDS.items() if getattr(obj, column)]
        return ", ".join(stored) or "none (environment)"

    def save_model(self, request, obj, form, change):
        # Names of what changed only: never a secret, not even a hint of one.
        changed = set(form.changed_data) - set(SECRET_FIELDS) - {"clear"} | set(form.changed_secrets)
        credential_set_save(credential_set=obj, saved_by=request.user, changed=list(changed), created=not change)

    def delete_model(self, request, obj):
        credential_set_delete(credential_set=obj, deleted_by=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)
