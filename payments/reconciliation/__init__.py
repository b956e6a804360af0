"""Reconciliation for finance: exports of our ledger and matching it against M-Pesa org portal statements.

`statement` reads a statement file, `matching` compares it with our payouts and payments, `export` streams
our records out; the management commands `export_reconciliation` and `reconcile_statement` only call them.
"""
