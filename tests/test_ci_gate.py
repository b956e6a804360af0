"""The CI gate (tests/ci_gate.py): under CI=true a skipped browser test fails the run; otherwise it skips."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BROWSER_TEST = """
import pytest

@pytest.mark.skip(reason="/usr/bin/chromium is missing")
def test_walk():
    pass
"""


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(
        test_browser_walk=BROWSER_TEST,
        test_other="import pytest\n\n@pytest.mark.skip(reason='x')\ndef test_x():\n    pass\n",
    )
    return pytester


def test_under_ci_a_skipped_browser_test_fails(suite, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest_inprocess("-p", "tests.ci_gate", "-p", "no:django", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1, skipped=1)  # skipped at set-up, so an error; the other skip is left alone
    result.stdout.fnmatch_lines(["*CI=true and this browser test was skipped*chromium is missing*"])


def test_without_ci_it_skips_with_the_reason(suite, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = suite.runpytest_inprocess("-p", "tests.ci_gate", "-p", "no:django", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2)
