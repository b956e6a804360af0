from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daraja.result_codes import (
    CATALOGUE,
    CodeClass,
    Namespace,
    all_entries,
    classify,
    classify_sync,
    is_code_value,
    is_success,
    lookup,
    normalize_code,
)

B2C, STK, SYNC, C2B = Namespace.B2C, Namespace.STK, Namespace.SYNC, Namespace.C2B_VALIDATION

# Every code issue 15 and the Daraja reference name, in the namespace it belongs to.
DOCUMENTED = {
    B2C: [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "11", "12", "13", "14", "15", "17", "18", "19", "20", "21",
        "22", "24", "25", "26", "29", "1037", "2001", "2006", "2028", "2040", "8006", "SFC_IC0003", "R000001",
        "R000002",
    ],
    STK: ["0", "1", "17", "1019", "1025", "1032", "1036", "1037", "2001"],
    SYNC: [
        "0", "400.002.02", "400.002.05", "400.003.01", "400.003.02", "400.008.01", "400.008.02", "401.002.01",
        "404.001.01", "404.001.03", "404.001.04", "404.002.01", "404.003.01", "405.001", "500.001.1001",
        "500.002.1001", "500.003.02", "500.003.03", "500.003.1001", "00.002.1001",
    ],
    C2B: ["0", "C2B00011", "C2B00012", "C2B00013", "C2B00014", "C2B00015", "C2B00016"],
}  # fmt: skip

# The B2C codes M-Pesa uses to say a request was refused before any money moved.
FINAL_FAILURES = ["1", "2", "3", "4", "8", "11", "21", "2001", "2006", "2028", "2040", "8006", "SFC_IC0003"]


@pytest.mark.parametrize(("namespace", "code"), [(ns, c) for ns, codes in DOCUMENTED.items() for c in codes])
def test_every_documented_code_has_an_operator_message_and_action(namespace, code):
    info = classify(namespace, code) if namespace != SYNC else classify_sync(code)
    assert info is CATALOGUE[namespace][code]
    assert info.known and info.namespace == namespace
    assert info.meaning and info.admin_message and info.action
    assert "system does not know" not in info.admin_message


@pytest.mark.parametrize("code", FINAL_FAILURES)
def test_codes_that_prove_no_money_moved_are_final_failures(code):
    assert classify(B2C, code).klass == CodeClass.FINAL_FAILURE


def test_every_final_failure_names_the_source_that_proves_it_and_the_doc_prints_it():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "result-codes.md").read_text()
    for info in all_entries():
        if info.is_final_failure:
            assert info.source, (info.namespace, info.code)
            row = re.search(rf"^\| `{re.escape(info.code)}` \| {info.namespace} \|.*$", doc, flags=re.MULTILINE)
            assert row and row.group(0).rstrip(" |").endswith(info.source.replace("|", "\\|")), info.code


@pytest.mark.parametrize("code", ["15", "17", "1037", "19", "100000001", "9999", "", "abc"])
def test_codes_that_prove_nothing_are_unknown(code):
    info = classify(B2C, code)
    assert info.klass == CodeClass.UNKNOWN
    assert "Transaction Status" in info.action


def test_namespaces_do_not_share_meanings():
    # A synchronous "1" is not "insufficient balance": it is a declined request of unknown meaning.
    assert "Insufficient" in classify(B2C, "1").meaning
    assert "Insufficient" not in classify_sync("1", http_status=200).meaning
    # STK 17 is "rule limited" (a final answer about a prompt), B2C 17 an internal failure (unknown).
    assert "Rule limited" in classify(STK, "17").meaning and classify(STK, "17").is_final_failure
    assert classify(B2C, "17").is_unknown
    # 1037: an STK prompt that reached nobody failed; a B2C queue timeout proves nothing.
    assert classify(STK, "1037").is_final_failure and classify(B2C, "1037").is_unknown


def test_500_002_1001_is_worded_for_both_meanings_and_settled_by_query():
    info = classify_sync("500.002.1001")
    assert info.is_unknown
    assert "Duplicate" in info.meaning and "System internal error" in info.meaning
    assert "Do not resend" in info.action and "Transaction Status" in info.action


def test_numbers_and_strings_name_the_same_code():
    assert lookup(0) == lookup("0") == lookup(" 0 ") == lookup(Decimal("0"))
    assert lookup(2001) == lookup("2001")
    assert lookup("sfc_ic0003") == lookup("SFC_IC0003")
    assert lookup("c2b00011", C2B) == lookup("C2B00011", C2B)
    assert is_success(0) and is_success("0") and not is_success("1")


@pytest.mark.parametrize("value", [{"a": 1}, [0], True, False, None, "", "  ", Decimal("1.5"), -1, "a b"])
def test_values_that_are_not_codes(value):
    assert not is_code_value(value)


@pytest.mark.parametrize("value", [0, 1037, "0", "1037", Decimal("0"), "SFC_IC0003", "500.002.1001"])
def test_values_that_are_codes(value):
    assert is_code_value(value)


@given(st.integers(min_value=0, max_value=10**9))
def test_any_integer_normalizes_like_its_string(number):
    assert normalize_code(number) == normalize_code(str(number)) == str(number)


def test_insufficient_balance_tells_the_operator_to_top_up():
    info = lookup(1)
    assert info.admin_message == "B2C utility account balance too low"
    assert info.action == "Top up the B2C utility account, then request a new payout"


def test_outcome_unknown_codes_say_to_check_before_acting():
    for code in ("500.002.1001", "500.003.1001", "15", "read_timeout"):
        assert "Transaction Status" in lookup(code).action
        assert lookup(code).retryable is False


def test_unknown_code_gets_a_careful_generic_entry():
    info = lookup("9999")
    assert info.code == "9999"
    assert info.retryable is False
    assert not info.known and info.is_unknown
    assert "9999" in info.admin_message
    assert "Transaction Status" in info.action


def test_the_result_codes_doc_lists_every_catalogue_code():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "result-codes.md").read_text()
    rows = {
        (match.group(1), match.group(2))
        for match in re.finditer(r"^\| `([^`]+)` \| (\w+) \|", doc, flags=re.MULTILINE)
    }
    for info in all_entries():
        assert (info.code, str(info.namespace)) in rows, (info.namespace, info.code)
