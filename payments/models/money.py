"""Field options the money columns share."""

from __future__ import annotations

# Shillings and cents: two places always, and room for any single payment or payout.
MONEY = {"max_digits": 12, "decimal_places": 2}
