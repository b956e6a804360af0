"""Unguessable callback URLs.

A payout's ResultURL and QueueTimeOutURL (and the URLs of its Transaction Status queries) carry a token
derived from its OriginatorConversationID, stored on the row: one payout's URL cannot settle another.
STK, C2B and Account Balance URLs carry a per-kind token derived from CALLBACK_TOKEN_SECRET. The HMAC
itself is payments/tokens.py (the models need it too); this module builds the URLs that carry the tokens.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from payments.tokens import payout_token, static_token, static_token_matches

__all__ = [
    "TOKEN_SCOPE", "callback_url", "payout_token", "payout_urls", "static_token", "static_token_matches", "static_url",
]

# URL name -> what the token is bound to: "payout" or a static group.
TOKEN_SCOPE = {
    "b2c-result": "payout",
    "b2c-timeout": "payout",
    "b2b-result": "payout",
    "b2b-timeout": "payout",
    "reversal-result": "payout",
    "reversal-timeout": "payout",
    "status-result": "payout",
    "status-timeout": "payout",
    "balance-result": "balance",
    "balance-timeout": "balance",
    "stk": "stk",
    "c2b-confirmation": "c2b",
    "c2b-validation": "c2b",
}


def callback_url(name: str, token: str) -> str:
    return settings.CALLBACK_BASE_URL + reverse(f"callbacks:{name}", kwargs={"token": token})


def payout_urls(token: str) -> dict[str, str]:
    """The URLs a payout's request (B2C and Pochi: b2c-*; paybill, till, top-up: b2b-*; reversal: reversal-*) and
    its status queries name."""
    return {name: callback_url(name, token) for name, scope in TOKEN_SCOPE.items() if scope == "payout"}


def static_url(name: str) -> str:
    return callback_url(name, static_token(TOKEN_SCOPE[name]))
