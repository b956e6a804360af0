"""Template filters for the console: `{{ value|kes }}` (KES 12,500.00) and `{{ value|local_time }}` (local
time in the console's one format). Both are the helpers the admin's Python code uses."""

from __future__ import annotations

from django import template

from payments.admin.common import kes as _kes
from payments.admin.common import when

register = template.Library()


@register.filter
def kes(value) -> str:
    return _kes(value)


@register.filter
def local_time(value) -> str:
    return when(value)
