"""`/favicon.ico`: browsers ask for it on every page whatever the page links, so it is answered from our own
static files (payments/static/payments/favicon.ico), never a CDN, and cached for a day."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

ICON = "payments/favicon.ico"


@cache
def _icon() -> bytes:
    return Path(finders.find(ICON)).read_bytes()


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request) -> HttpResponse:
    return HttpResponse(_icon(), content_type="image/x-icon")
