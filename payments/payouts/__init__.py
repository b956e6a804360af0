"""Money out: the payout lifecycle and its door, requests and approvals, limits, bulk files, dispatch
and settlement."""
