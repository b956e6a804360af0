"""Text is cut to a column's width by `core.field_widths.truncate_to()`, which reads the width from the model
(docs/architecture.md, "Money and words"). A slice written out with a column's width (`[:255]`, `[:32]`) is
a copy that stays behind when the column is widened: this test names the file and the line."""

from __future__ import annotations

import re
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("core", "payments", "ledger", "webhooks", "notifications")
APPS = ("payments", "ledger", "webhooks", "notifications")
SLICE = re.compile(r"\[:(\d+)\]")
# Slices that are not a write to a column: a query's LIMIT, a digest's length.
NOT_A_WRITE = re.compile(r"values_list|order_by|objects\.|hexdigest\(\)")
# Each a width-sized slice that is not a model width, and why.
ALLOWED = {
    # A lookup across three columns (64, 64 and 32 wide): cut at the widest so the query never errs.
    "payments/callbacks/handlers/status.py": "others.filter(**{column: value[:64]})",
    # A quote in a review reason, kept short for the reader.
    "payments/payouts/settlement.py": "outcome.reason_type[:60]",
}


def _widths() -> set[int]:
    return {
        field.max_length
        for label in APPS
        for model in apps.get_app_config(label).get_models()
        for field in model._meta.get_fields()
        if getattr(field, "max_length", None) and field.max_length >= 30
    }


def test_no_text_is_cut_to_a_column_width_written_out_by_hand():
    widths = _widths()
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = str(path.relative_to(ROOT))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if NOT_A_WRITE.search(line) or ALLOWED.get(name, "\0") in line:
                    continue
                if any(int(n) in widths for n in SLICE.findall(line)):
                    found.append(f"{name}:{number}: {line.strip()}")
    assert found == [], "cut with core.field_widths.truncate_to(Model, field, value):\n" + "\n".join(found)
