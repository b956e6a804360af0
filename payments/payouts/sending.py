"""One request per payout, in its rail's Daraja product: which call, which callback URLs, which ids it carries.

| rail                       | request (daraja/)         | ids in the request           | callback URLs        |
| mobile                     | DarajaClient.b2c_payment  | our OriginatorConversationID | b2c-*                |
| pochi                      | daraja.rails.pay_pochi    | our OriginatorConversationID | b2c-* (a B2C result) |
| paybill, till, float_topup | daraja.rails.pay_business | none: the answer gives both  | b2b-*                |
| reversal                   | daraja.reversal           | none: the answer gives both  | reversal-*           |

The caller (dispatch.payout_send) has claimed the payout (`sending`, committed) before calling `rail_request`,
and never calls it twice for one claim. A rail whose request carries no id of ours (NO_CALLER_ID_RAILS) is
bound to its result by the per-payout token in its ResultURL alone; the ids Daraja's synchronous answer gives
are stored when it arrives. A reversal is sent the same way as B2B: its own URLs (reversal-*), no caller id.

`sent_from()` is the one rule for the shortcode a payout's request is drawn from (and the Daraja app it goes
through): the senders use it, and so does the Transaction Status query (dispatch.payout_query_status), since
M-Pesa finds a transaction only under the shortcode that made it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from daraja.client import DarajaClient, Product
from daraja.config import DarajaConfig
from daraja.rails import party_a_for, pay_business, pay_pochi
from daraja.reversal import reversal_request
from payments.callbacks.tokens import payout_urls
from payments.models import Payment, Payout, PayoutRail


@dataclass(frozen=True)
class Accepted:
    """Daraja took the request. `answered_originator_conversation_id`: the id its answer gave for a request
    that carried none of ours ("" for B2C and Pochi, whose id is the payout's own)."""

    conversation_id: str
    answered_originator_conversation_id: str = ""


@dataclass(frozen=True)
class SentFrom:
    """The shortcode a payout's request is drawn from, and the Daraja app (`product`) it is sent through."""

    shortcode: str
    product: Product = "b2c"


def sent_from(config: DarajaConfig, payout: Payout) -> SentFrom:
    """Where the payout's request leaves from, by rail: the B2C shortcode (mobile), MPESA_B2B_SHORTCODE (paybill,
    till, Pochi), MPESA_TOPUP_FROM_SHORTCODE (top-up), all through the B2C app; a reversal is done by the
    shortcode that received the payment (its ReceiverParty, kept in `party_b`) through the STK/C2B app."""
    if payout.rail == PayoutRail.REVERSAL:
        return SentFrom(payout.party_b, "stk")
    return SentFrom(party_a_for(config, payout.rail))


def _send_b2c(client: DarajaClient, payout: Payout, urls: dict[str, str]) -> Accepted:
    accepted = client.b2c_payment(
        originator_conversation_id=payout.originator_conversation_id,
        command_id=payout.command_id,
        amount=payout.amount,
        phone=payout.phone,
        remarks=payout.remarks,
        occasion=payout.occasion,
        result_url=urls["b2c-result"],
        timeout_url=urls["b2c-timeout"],
    )
    return Accepted(accepted.conversation_id)


def _send_pochi(client: DarajaClient, payout: Payout, urls: dict[str, str]) -> Accepted:
    accepted = pay_pochi(
        client,
        originator_conversation_id=payout.originator_conversation_id,
        amount=payout.amount,
        phone=payout.phone,
        remarks=payout.remarks,
        occasion=payout.occasion,
        result_url=urls["b2c-result"],
        timeout_url=urls["b2c-timeout"],
    )
    return Accepted(accepted.conversation_id)


def _send_b2b(client: DarajaClient, payout: Payout, urls: dict[str, str]) -> Accepted:
    accepted = pay_business(
        client,
        rail=payout.rail,
        amount=payout.amount,
        remarks=payout.remarks,
        result_url=urls["b2b-result"],
        timeout_url=urls["b2b-timeout"],
        # A top-up names no receiver: the builder addresses our own B2C shortcode itself.
        party_b="" if payout.rail == PayoutRail.FLOAT_TOPUP else payout.party_b,
        account_reference=payout.account_reference,
    )
    return Accepted(accepted.conversation_id, accepted.originator_conversation_id)


def _send_reversal(client: DarajaClient, payout: Payout, urls: dict[str, str]) -> Accepted:
    """The payment's receipt given back whole; ReceiverParty is the shortcode that received it (`party_b`)."""
    receipt = Payment.objects.filter(pk=payout.payment_id).values_list("receipt", flat=True).get()
    origin = sent_from(client.config, payout)
    accepted = reversal_request(
        client,
        transaction_id=receipt or "",
        amount=payout.amount,
        receiver_party=origin.shortcode,
        remarks=payout.remarks,
        result_url=urls["reversal-result"],
        timeout_url=urls["reversal-timeout"],
        product=origin.product,
    )
    return Accepted(accepted.conversation_id, accepted.originator_conversation_id)


SENDERS: dict[str, Callable[[DarajaClient, Payout, dict[str, str]], Accepted]] = {
    PayoutRail.MOBILE: _send_b2c,
    PayoutRail.POCHI: _send_pochi,
    PayoutRail.PAYBILL: _send_b2b,
    PayoutRail.TILL: _send_b2b,
    PayoutRail.FLOAT_TOPUP: _send_b2b,
    PayoutRail.REVERSAL: _send_reversal,
}


def can_send(rail: str) -> bool:
    return rail in SENDERS


def rail_request(client: DarajaClient, payout: Payout) -> Accepted:
    """Send the payout's one request. Raises DarajaNotSent / DarajaOutcomeUnknown as the client does."""
    return SENDERS[payout.rail](client, payout, payout_urls(payout.callback_token))
