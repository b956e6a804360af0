"""A payout's case file: notes by anyone who may see the payout. A note moves no money and changes no status,
so it does not go through the lifecycle; it is kept, never edited, with its author and time."""

from __future__ import annotations

from core.errors import ErrorCode, NotFound, PayoutError, PermissionDenied
from payments.models import Payout, PayoutNote
from payments.roles import VIEW_PAYOUTS

NOTE_MAX = 2000


def payout_note_add(*, payout_id: int, author, text: str) -> PayoutNote:
    if author is None or not author.is_active or not author.has_perm(VIEW_PAYOUTS):
        raise PermissionDenied("You need the view permission on payouts to write in a payout's case file.")
    text = (text or "").strip()
    if len(text) < 2:
        raise PayoutError("A note must have at least 2 characters.", code=ErrorCode.TEXT)
    if len(text) > NOTE_MAX:
        raise PayoutError(f"A note must have at most {NOTE_MAX} characters.", code=ErrorCode.TEXT)
    if not Payout.objects.filter(pk=payout_id).exists():
        raise NotFound(f"No payout #{payout_id}.")
    return PayoutNote.objects.create(payout_id=payout_id, author=author, text=text)
