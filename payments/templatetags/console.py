"""Template helpers of the console: the overview's figures and amounts written as finance reads them."""

from __future__ import annotations

from decimal import Decimal

from django import template

from payments.admin.charts import kes as kes_text

register = template.Library()


@register.simple_tag(takes_context=True)
def console_overview(context) -> dict:
    from payments.admin.overview import index_context

    return index_context(context["request"])


@register.filter
def kes(amount: Decimal | str | None) -> str:
    """`KES 12,500.00` (from a Decimal, or the text of one as stored in a job's summary)."""
    if amount in (None, ""):
        return "-"
    return kes_text(Decimal(str(amount)))
