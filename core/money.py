"""Money in one place: the column spec every amount uses, the ledger's wider one, and how KES is written.

Amounts are Decimal with two places, never float. A serializer reads its spec from here, so an API field
can never accept more digits than the column behind it stores.
"""

from __future__ import annotations

from decimal import Decimal

# A payment's or a payout's amount: up to KES 9,999,999,999.99, far above any single M-Pesa transaction.
MONEY = {"max_digits": 12, "decimal_places": 2}
# The ledger sums many payouts into one line (an account's balance, a statement's drift), so its columns
# are two digits wider than a single amount's.
LEDGER_MONEY = {"max_digits": 14, "decimal_places": 2}
# A sum of amounts (a float balance reading, an hour's sends, a report's totals): room for many payouts.
SUM = {"max_digits": 16, "decimal_places": 2}
# A running total kept for ever (a day's payouts by kind and status, an account's daily debits and credits,
# a trial balance): the widest, so a busy year never overflows the row it adds into.
RUNNING_TOTAL = {"max_digits": 18, "decimal_places": 2}


def kes(amount) -> str:
    """Money as every page, message and command writes it, "KES 12,500.00"; "-" when there is none.

    Text is read as the Decimal it spells (a job's summary stores amounts as text); a float would be read
    through its shortest text, so 0.1 is 0.10 and not the binary 0.1000000000000000055..."""
    if amount is None or amount == "":
        return "-"
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return f"KES {value:,.2f}"
