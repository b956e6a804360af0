"""django-otp's device admins (superusers only, docs/security.md), with the superuser who adds or deletes a
device named in its audit event (payments/devices.py): the owner is not who did it."""

from __future__ import annotations

from django.contrib import admin
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from payments.devices import CHANGED_BY


class _NamesWhoChanged:
    def save_model(self, request, obj, form, change):
        setattr(obj, CHANGED_BY, request.user)
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        setattr(obj, CHANGED_BY, request.user)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # One by one, so each device's event names the superuser (a bulk delete's signals see fresh objects).
        for obj in queryset:
            self.delete_model(request, obj)


for model, base in ((TOTPDevice, TOTPDeviceAdmin), (StaticDevice, StaticDeviceAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, type(base.__name__, (_NamesWhoChanged, base), {}))
