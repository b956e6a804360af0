from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.daraja.result_codes import CATALOGUE, is_success, lookup, normalize_code

DOCUMENTED = [
    "0", "1", "2", "3", "4", "8", "11", "15", "17", "21", "26", "2001", "2006", "2028", "2040", "8006",
    "SFC_IC0003", "1032", "1037", "R000001", "R000002",
    "400.002.02", "400.002.05", "404.001.03", "401.002.01", "400.003.01", "404.001.04",
    "500.001.1001", "500.002.1001", "500.003.02", "500.003.03", "500.003.1001",
]  # fmt: skip


@pytest.mark.parametrize("code", DOCUMENTED)
def test_every_documented_code_has_an_operator_message_and_action(code):
    info = lookup(code)
    assert info is CATALOGUE[code]
    assert info.code == code
    assert info.meaning and info.admin_message and info.action
    assert "system does not know" not in info.admin_message


def test_numbers_and_strings_name_the_same_code():
    assert lookup(0) == lookup("0") == lookup(" 0 ") == lookup(Decimal("0"))
    assert lookup(2001) == lookup("2001")
    assert lookup("sfc_ic0003") == lookup("SFC_IC0003")
    assert is_success(0) and is_success("0") and not is_success("1")


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
    assert "9999" in info.admin_message
    assert "Transaction Status" in info.action
