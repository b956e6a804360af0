"""Money in: a payment's lifecycle and its one door (lifecycle.py), the STK push (stk.py), C2B confirmations
(c2b.py) and the refund reservation a payment holds (refunds.py). Imports nothing of payments.payouts."""
