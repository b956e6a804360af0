"""The money column spec of payments and payouts: core.money's, named here for the models."""

from __future__ import annotations

from core.money import MONEY

__all__ = ["MONEY"]
