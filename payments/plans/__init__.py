"""Payout plans: recurring payout runs (docs/payout-plans.md)."""
