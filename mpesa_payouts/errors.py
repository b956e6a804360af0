"""The 403 page and the log filter that goes with it.

A refused page is a console page that says why (the admin's look, the reason the code gave), not a bare
"403 Forbidden". And a refusal is not a fault of ours: Django logs a raised PermissionDenied on
`django.request` with its traceback; the filter keeps the one-line warning and drops the traceback.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied


def permission_denied(request, exception=None):
    from core.console_kit import refused

    reason = str(exception) if exception is not None and str(exception) else ""
    response = refused(request, reason or "You do not have permission to open this page.")
    return response.render()


class NoTracebackForRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True
