"""The callback URL tokens' HMAC, below both the models (a payout stores its token) and the HTTP package
(payments/callbacks/ builds and checks the URLs that carry them).

A payout's token is derived from its OriginatorConversationID; STK, C2B and Account Balance URLs carry a
per-kind token. Both are keyed with CALLBACK_TOKEN_SECRET. Tokens are hex, so they can never contain a word
Safaricom rejects in a URL.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.utils.crypto import salted_hmac


def _token(value: str) -> str:
    return salted_hmac(
        "payments.callbacks", value, secret=settings.CALLBACK_TOKEN_SECRET, algorithm="sha256"
    ).hexdigest()[:40]


def payout_token(originator_conversation_id: str) -> str:
    return _token(f"payout:{originator_conversation_id}")


def static_token(scope: str) -> str:
    return _token(f"static:{scope}")


def static_token_matches(scope: str, token: str) -> bool:
    return hmac.compare_digest(static_token(scope), token)
