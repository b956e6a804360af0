"""The four-eyes rule has one home, payments/payouts/four_eyes.py (docs/architecture.md): no other module of
payments spells who has an interest in a payout, and the database's copies of the rule name that module.
What the rule refuses is tested through the routes in test_payout_services.py and
tests/security/test_four_eyes_editors.py."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HOME = ROOT / "payments" / "payouts" / "four_eyes.py"
# How the rule is spelled: the requester compared with a user, or the editors of what is paid looked up.
SPELLINGS = re.compile(r"requested_by_id\s*==|==\s*[\w.]*requested_by_id|changed_bound\s*=\s*True|AND changed_bound")


def _spelled_in(path: Path) -> bool:
    return bool(SPELLINGS.search(path.read_text(encoding="utf-8")))


def test_the_rule_is_spelled_only_in_its_home():
    elsewhere = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "payments").rglob("*.py"))
        if path != HOME and "migrations" not in path.parts and _spelled_in(path)
    ]
    assert elsewhere == []


def test_the_scan_recognises_the_rule():
    # A scan that matches nothing proves nothing: its home must match.
    assert _spelled_in(HOME)


def test_the_database_copies_name_the_home():
    payments = ROOT / "payments"
    for path in (payments / "migrations" / "0010_payout_editors.py", payments / "models" / "payouts.py"):
        assert "payments/payouts/four_eyes.py" in path.read_text(encoding="utf-8"), path
