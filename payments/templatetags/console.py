"""Template helpers of the console: the overview's figures, `{{ value|kes }}` (KES 12,500.00) and
`{{ value|local_time }}` (local time in the console's one format) and `{{ payout|paid_to }}` (who it pays, in
its rail's words). The filters are the helpers the admin's
Python code uses."""

from __future__ import annotations

from django import template

from core.console_kit import when
from core.money import kes as _kes

register = template.Library()


@register.simple_tag(takes_context=True)
def console_overview(context) -> dict:
    from payments.admin.overview import index_context

    return index_context(context["request"])


@register.filter
def kes(value) -> str:
    """`KES 12,500.00` (from a Decimal, or the text of one as stored in a job's summary)."""
    return _kes(value)


@register.filter
def local_time(value) -> str:
    return when(value)


@register.filter
def paid_to(payout) -> str:
    """Who a payout pays, in its rail's words ("Paybill 888880, account INV-2041", a phone)."""
    from payments.admin.payout_words import paid_to as words

    return words(payout)
