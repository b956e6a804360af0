"""Callback URL tokens never leave the process whole: every place that writes or returns a callback path (the
web server's access log, Django's request warnings, the API, stored bodies that echo our own URLs back) shows
the first six characters of the token and an ellipsis, as the admin does.

Pure Python (no Django import): gunicorn's config loads it before Django is set up.
"""

from __future__ import annotations

import logging
import re

# `.../callbacks/<kind>[/<result|timeout|...>]/<token>`, also inside JSON where `/` may be written `\/`. The
# token is whatever the caller put in that segment: a forged one is masked too (masking never needs to know
# whose it is). Six characters stay, enough to tell two apart.
_TOKEN_IN_PATH = re.compile(r"(callbacks(?:\\?/[a-z0-9]+){1,2}\\?/)([^/\s\"'?#\\<>]{7,})", re.IGNORECASE)
KEEP = 6
ELLIPSIS = "…"


def mask_callback_tokens(text: str) -> str:
    """`text` with the token segment of every callback path in it cut to six characters and an ellipsis."""
    if not text or "allbacks" not in text:
        return text
    return _TOKEN_IN_PATH.sub(lambda match: match.group(1) + match.group(2)[:KEEP] + ELLIPSIS, text)


def _masked(value):
    return mask_callback_tokens(value) if isinstance(value, str) else value


class MaskCallbackTokens(logging.Filter):
    """A logging filter: masks callback tokens in a record's message and arguments (Django's `django.request`
    warnings name the path: "Not Found: /callbacks/b2c/result/<token>/")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_callback_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _masked(value) for key, value in record.args.items()}
        return True


def gunicorn_logger_class():
    """gunicorn's Logger with every access-log atom masked (the request line, the path, the referer...)."""
    from gunicorn.glogging import Logger

    class MaskingLogger(Logger):
        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            return {key: _masked(value) for key, value in atoms.items()}

    return MaskingLogger
