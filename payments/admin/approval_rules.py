"""The approval rules' console page: superusers read and change them; each save or delete is a call to
payments/payouts/approval_rules.py, which records the old and new values in the audit trail."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from core.console_kit import SuperuserSettingsMixin
from core.errors import ApplicationError
from payments.models import ApprovalRule, EventSource, PayoutRail
from payments.payouts.approval_rules import (
    RULE_FIELDS,
    approval_rule_delete,
    approval_rule_save,
    rule_values_clean,
)


class ApprovalRuleForm(forms.ModelForm):
    rail = forms.ChoiceField(choices=[("", "Every rail"), *PayoutRail.choices], required=False)

    class Meta:
        model = ApprovalRule
        fields = RULE_FIELDS

    def clean(self):
        values = super().clean()
        try:
            rule_values_clean({name: values.get(name) for name in RULE_FIELDS if name in values})
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None
        return values


@admin.register(ApprovalRule)
class ApprovalRuleAdmin(SuperuserSettingsMixin, admin.ModelAdmin):
    form = ApprovalRuleForm
    list_display = ("position", "name", "rail", "source", "min_amount", "max_amount", "approvals", "manager_group",
                    "active", "changed_by", "changed_at")
    list_display_links = ("name",)
    ordering = ("position", "id")
    readonly_fields = ("changed_by", "changed_at")

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in RULE_FIELDS}
        saved = approval_rule_save(changed_by=request.user, values=values, rule_id=obj.pk if change else None,
                                   source=EventSource.ADMIN)
        obj.pk, obj.changed_by, obj.changed_at = saved.pk, saved.changed_by, saved.changed_at

    def delete_model(self, request, obj):
        approval_rule_delete(changed_by=request.user, rule_id=obj.pk, source=EventSource.ADMIN)
