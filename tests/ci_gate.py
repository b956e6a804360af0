"""Under CI (`CI=true`) the browser tests must run: a skipped one (no Chromium, no playwright, no PostgreSQL or
Redis) is reported as a failure, so a CI run cannot go green without having driven a browser. Locally they
still skip with the reason printed. Browser tests are the modules named `test_browser*.py`."""

from __future__ import annotations

import os

import pytest


def is_browser_test(item) -> bool:
    return item.path.name.startswith("test_browser")


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and under_ci() and is_browser_test(item):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI=true and this browser test was skipped ({reason}): under CI it must run."
