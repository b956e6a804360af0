"""Money has one home (docs/architecture.md, "Money and words"): every amount's width comes from a named
spec in core/money.py and every "KES 12,500.00" from its `kes()`. A width or a format written out again
elsewhere is how five MONEY specs with three precisions grew: this test names the file and the line."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("core", "daraja", "daraja_simulator", "payments", "ledger", "webhooks", "notifications")
HOME = ROOT / "core" / "money.py"
WIDTH = re.compile(r"max_digits")
FORMAT = re.compile(r"KES \{[^}]*:,\.2f\}")


def _offenders(pattern: re.Pattern) -> list[str]:
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == HOME or "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}")
    return found


def test_every_money_width_is_a_named_spec_of_core_money():
    assert _offenders(WIDTH) == [], "use MONEY, LEDGER_MONEY, SUM or RUNNING_TOTAL from core.money"


def test_every_kes_amount_is_written_by_core_money_kes():
    assert _offenders(FORMAT) == [], "write amounts with core.money.kes()"
