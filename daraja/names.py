"""Comparing the name we expect with the name M-Pesa reports (Hakikisha, Org Info, a result's public name).

Pure functions, no I/O. A person's first name matches when it equals, ignoring case and accents, one of the
names we hold for them (Kenyan names are written in either order). A business name matches when enough of
its words (after dropping words such as "Ltd" or "Limited") are shared.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

# Words that say what kind of organisation it is, not which one.
_BUSINESS_FILLER = frozenset(
    {
        "ltd",
        "limited",
        "co",
        "company",
        "the",
        "and",
        "of",
        "plc",
        "inc",
        "llc",
        "enterprises",
        "enterprise",
        "kenya",
        "k",
        "shop",
        "store",
        "services",
        "group",
        "agency",
        "agencies",
    }
)
BUSINESS_OVERLAP = 0.5  # share of the shorter name's words that must appear in the other


class NameMatch(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"  # nothing to compare (a name is empty or entirely masked)


def name_words(text: str) -> list[str]:
    """Lower-case words without accents or punctuation: "Zoë O'Brien-Wanjiru" -> ["zoe", "obrien", "wanjiru"]."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = re.sub(r"['’`]", "", plain)
    return [word for word in re.split(r"[^0-9a-z*]+", plain) if word and "*" not in word]


def compare_first_name(expected_name: str, reported_first_name: str) -> NameMatch:
    """Whether M-Pesa's first name (Hakikisha's `firstName`) is one of the names in `expected_name`."""
    reported = name_words(reported_first_name)
    expected = set(name_words(expected_name))
    if not reported or not expected:
        return NameMatch.UNKNOWN
    return NameMatch.MATCH if reported[0] in expected else NameMatch.MISMATCH


def compare_business_name(expected: str, reported: str, *, overlap: float = BUSINESS_OVERLAP) -> NameMatch:
    """Whether two business names share enough words: "Mama Mboga Groceries Ltd" matches "MAMA MBOGA
    GROCERIES"; "Daraja" does not match "Acme Hardware"."""
    ours = _business_words(expected)
    theirs = _business_words(reported)
    if not ours or not theirs:
        return NameMatch.UNKNOWN
    shared = len(ours & theirs)
    return NameMatch.MATCH if shared / min(len(ours), len(theirs)) >= overlap else NameMatch.MISMATCH


def _business_words(text: str) -> set[str]:
    words = name_words(text)
    meaningful = {word for word in words if word not in _BUSINESS_FILLER}
    return meaningful or set(words)
