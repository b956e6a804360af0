"""Console forms that create money movements are submitted once (issue 24, finding 3).

Each render of such a form carries a one-time token (`form_nonce`; a bulk upload's preview token is one). The
submit stores it (FormSubmission, UNIQUE per form and token) in the same transaction as what it creates, before
creating it: a second submit of the same render, concurrent or later, waits on the unique index and is then
answered with the page of what the first created. A submit that creates nothing (refused, or rolled back)
leaves the token unused, so the corrected form can be sent again."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from core.errors import ErrorCode, PayoutError
from core.field_widths import truncate_to
from payments.models import FormSubmission

NONCE_FIELD = "form_nonce"
NONCE_MAX = 64


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Submitted:
    url: str  # the page of what was created, by this submit or the first one; "" when nothing was
    created: Any = None  # what this submit created; None when an earlier submit of the form did


def submitted_earlier(*, user, form: str, nonce: str) -> str:
    """The page of what an earlier submit of this render created, or ""."""
    if not nonce:
        return ""
    earlier = FormSubmission.objects.filter(form=form, nonce=nonce[:NONCE_MAX], user=user).first()
    return earlier.result_url if earlier else ""


def submit_once(*, user, form: str, nonce: str, create: Callable[[], Any], url_of: Callable[[Any], str]) -> Submitted:
    """`create()` at most once for this render of `form`. Raises PayoutError when the token is missing (a form
    rendered before this rule, or tampered with) or belongs to someone else's render."""
    nonce = (nonce or "").strip()
    if not nonce or len(nonce) > NONCE_MAX:
        raise PayoutError("This form has no valid one-time token: open it again and submit it once.",
                          code=ErrorCode.FORM_NONCE)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = FormSubmission.objects.create(form=form, nonce=nonce, user=user, result_url="")
        except IntegrityError:
            url = submitted_earlier(user=user, form=form, nonce=nonce)
            if not url:
                raise PayoutError("This form was already submitted.", code=ErrorCode.FORM_NONCE) from None
            return Submitted(url=url)
        created = create()
        if created is None:
            # Nothing was made: the token stays unused for the corrected form.
            transaction.set_rollback(True)
            return Submitted(url="")
        record.result_url = truncate_to(record, "result_url", url_of(created))
        record.save(update_fields=["result_url"])
        return Submitted(url=record.result_url, created=created)
