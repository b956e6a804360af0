"""Issue 30 in a real browser (Debian's Chromium, driven by Playwright, headless) at a laptop's width (1366) and
a phone's (390): the overview's "M-Pesa refused the operator credentials" banner with its two buttons, the set's
page of refused payouts with *Request all again*, and the *Reinstate* confirmation. Nothing is wider than the
screen. Nothing is sent: the probe itself is tested through the routes (tests/payments/admin/test_operator_console.py).

No ORM while the browser runs (Playwright's event loop is in this thread): rows are made before.
Screenshots go to the test's temporary directory (`operator-<page>-<laptop|phone>.png`).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from payments.models import DarajaCredentialSet, PayoutStatus
from tests.e2e.browser import BROWSER_TEST, WIDTHS
from tests.e2e.test_browser_phone import WIDEST
from tests.factories import make_payout, make_user

pytestmark = BROWSER_TEST


def test_the_operator_down_banner_and_its_pages_fit_a_laptop_and_a_phone(browse):
    now = timezone.now()
    main = DarajaCredentialSet.objects.create(
        name="main", active=True, b2c_shortcode="600992", initiator_name="apiop",
        operator_refusals=2, operator_down_since=now - timedelta(minutes=20),
        operator_down_reason="M-Pesa refused the operator credentials (code 2001)",
    )  # fmt: skip
    for amount, name in (("1500", "Jane Wanjiru"), ("2300", "Otieno Juma")):
        make_payout(status=PayoutStatus.FAILED, sent_with=main, result_code="2001", amount=Decimal(amount),
                    recipient_name=name, status_changed_at=now - timedelta(minutes=25))  # fmt: skip
    make_user("boss", is_staff=True, is_superuser=True)
    too_wide: dict[str, tuple] = {}
    for size, (width, height) in WIDTHS.items():
        with browse("boss", width, height) as page:
            operator = f"{page.base}/admin/payments/darajacredentialset/{main.pk}/operator/"
            banner = page.locator("#operator-down")
            assert "M-Pesa refused the operator credentials" in banner.inner_text()
            assert banner.locator("#operator-reinstate").is_visible()
            assert banner.locator("#operator-refused-payouts").is_visible()
            page.screenshot(path=page.shots / f"operator-overview-{size}.png")
            shots = {"overview": page.evaluate("document.documentElement.scrollWidth")}

            page.click("#operator-refused-payouts")
            page.wait_for_url(operator)
            assert page.locator("#operator-refused tbody tr").count() == 2
            page.screenshot(path=page.shots / f"operator-refused-{size}.png", full_page=True)
            shots["refused"] = page.evaluate("document.documentElement.scrollWidth")

            page.click("#operator-request-again")
            assert "failed because M-Pesa refused its operator" in page.inner_text("#content-main")
            page.screenshot(path=page.shots / f"operator-request-again-{size}.png", full_page=True)
            shots["request-again"] = page.evaluate("document.documentElement.scrollWidth")

            page.goto(operator)
            page.click("#operator-reinstate")
            assert "sends one balance query" in page.inner_text("#content-main")
            page.screenshot(path=page.shots / f"operator-reinstate-{size}.png", full_page=True)
            shots["reinstate"] = page.evaluate("document.documentElement.scrollWidth")
            for name, scroll_width in shots.items():
                if scroll_width > width:
                    too_wide[f"{size} {name}"] = (scroll_width, page.evaluate(WIDEST, width))
            assert page.errors == []
    assert too_wide == {}, too_wide
