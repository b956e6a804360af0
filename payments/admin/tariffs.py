"""M-Pesa's tariff table in the console: superusers read and change its bands (docs/charges.md); each save or
delete goes through payments/payouts/tariff.py, which records the old and new values in the audit trail."""

from __future__ import annotations

from django.contrib import admin

from core.console_kit import SuperuserSettingsMixin
from payments.models import EventSource, TariffBand
from payments.payouts.tariff import tariff_band_delete, tariff_band_save


@admin.register(TariffBand)
class TariffBandAdmin(SuperuserSettingsMixin, admin.ModelAdmin):
    list_display = ("group", "min_amount", "max_amount", "charge", "valid_from", "source")
    list_filter = ("group",)
    ordering = ("group", "-valid_from", "min_amount")

    def save_model(self, request, obj, form, change):
        before = TariffBand.objects.filter(pk=obj.pk).first() if change else None
        tariff_band_save(band=obj, changed_by=request.user, source=EventSource.ADMIN, before=before)

    def delete_model(self, request, obj):
        tariff_band_delete(band=obj, changed_by=request.user, source=EventSource.ADMIN)
