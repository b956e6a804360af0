"""The admin renders no script it did not write: back links and redirects taken from a request stay on this
site, every page carries a Content-Security-Policy that allows no inline script, and a real browser shows no
CSP violation on the admin, its confirmation pages and /api/docs/."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from payments.models import PayoutStatus
from tests.factories import make_approver, make_payment, make_requester, make_user
from tests.payments.admin.conftest import logged_in, request_payout

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:payments_payout_changelist")
APPROVE = reverse("admin:payments_payout_approve")
REJECT = reverse("admin:payments_payout_reject")
HOSTILE = [
    "javascript:alert(document.cookie)",
    " javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://evil.example/phish",
    "//evil.example/phish",
    "\\\\evil.example",
]


@pytest.fixture(autouse=True)
def _no_send(monkeypatch):
    from payments.payouts import services as payout_services

    monkeypatch.setattr(payout_services, "queue_send", lambda payout_id: None)


@pytest.mark.parametrize("view", [APPROVE, REJECT])
@pytest.mark.parametrize("target", HOSTILE)
def test_take_me_back_link_never_carries_a_foreign_or_script_url(view, target):
    payout = request_payout(make_requester("rita"))
    client = logged_in(make_approver("alan"))
    page = client.get(view, {"ids": payout.pk, "next": target})
    assert page.status_code == 200
    html = page.content.decode()
    assert "No, take me back" in html
    assert "javascript:" not in html.lower() and "evil.example" not in html and "data:text" not in html
    # The link falls back to the payouts list, and no hidden `next` carries the URL into the POST.
    assert f'href="{CHANGELIST}" class="button cancel-link"' in html
    assert 'name="next"' not in html


@pytest.mark.parametrize("target", HOSTILE)
def test_redirect_after_a_decision_stays_on_the_site(target):
    payout = request_payout(make_requester("rita"))
    client = logged_in(make_approver("alan"))
    done = client.post(APPROVE, {"ids": str(payout.pk), "confirm": "yes", "next": target})
    # The approver's own queue (nothing else waits for them), not the hostile target.
    assert done.status_code == 302 and done["Location"] == f"{CHANGELIST}?awaiting=me"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED


def test_a_link_to_this_site_is_still_honoured():
    payout = request_payout(make_requester("rita"))
    client = logged_in(make_approver("alan"))
    here = reverse("admin:payments_payout_change", args=(payout.pk,))
    page = client.get(REJECT, {"ids": payout.pk, "next": here})
    assert f'href="{here}" class="button cancel-link"' in page.content.decode()


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize(
    "url",
    [
        "/admin/login/",
        "/admin/",
        CHANGELIST,
        APPROVE + "?ids={payout}",
        REJECT + "?ids={payout}",
        "/admin/payments/payment/{payment}/change/",
        "/api/payouts/",
        "/api/docs/",
        "/api/docs/?script=",
        "/healthz/",
        "/callbacks/b2c/result/nope/",
        "/static/admin/css/base.css",
    ],
)
def test_every_response_carries_the_security_headers(url):
    staff = make_user("boss", is_staff=True, is_superuser=True)
    client = logged_in(staff)
    url = url.format(payout=request_payout(make_requester("rita")).pk, payment=make_payment().pk)
    response = client.get(url) if not url.startswith("/callbacks/") else client.post(url, "{}", "application/json")
    assert response.status_code < 500
    policy = _policy(response)
    scripts = policy.get("script-src", policy.get("default-src"))
    assert scripts == ["'self'"], response["Content-Security-Policy"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_swagger_ui_has_no_inline_script():
    client = logged_in(make_user("boss", is_staff=True, is_superuser=True))
    html = client.get("/api/docs/").content.decode()
    # Every <script> has a src (the init script is a file of its own: ?script=).
    assert html.count("<script") == html.count("<script src=") >= 3
    init = client.get("/api/docs/?script=")
    assert init.status_code == 200 and "SwaggerUIBundle" in init.content.decode()


# --- In a real browser ---------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "pass-Word-123"  # tests.factories.make_user's


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)")
def test_no_csp_violation_in_a_real_browser(live_server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from tests.e2e.test_browser import CHROMIUM_ARGS

    make_approver("alan")
    make_user("boss", is_staff=True, is_superuser=True)
    payout = request_payout(make_requester("rita"))
    payment = make_payment(payer_name="<script>alert(1)</script>", account_reference="=HYPERLINK(1)")
    base = live_server.url
    pages = {
        "alan": [
            f"{CHANGELIST}",
            f"{APPROVE}?ids={payout.pk}&next=javascript:alert(document.cookie)",
            f"{REJECT}?ids={payout.pk}&next=javascript:alert(document.cookie)",
            f"/admin/payments/payout/{payout.pk}/change/",
        ],
        "boss": [
            "/admin/",
            f"/admin/payments/payment/{payment.pk}/change/",
            "/admin/auth/user/",
            "/admin/auth/user/add/",
            "/api/payouts/",
            "/api/docs/",
        ],
    }
    violations: list[str] = []
    dialogs: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            for username, urls in pages.items():
                context = browser.new_context()
                context.set_default_timeout(15_000)
                page = context.new_page()

                def on_console(message, page=page):
                    if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
                        violations.append(f"{page.url}: {message.text}")

                page.on("console", on_console)
                page.on("pageerror", lambda error, page=page: violations.append(f"{page.url}: page error {error}"))
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                page.goto(f"{base}/admin/login/")
                page.fill("#id_username", username)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url(f"{base}/admin/")
                for url in urls:
                    page.goto(base + url)
                    page.wait_for_load_state("networkidle")
                    if url == "/api/docs/":
                        # Swagger UI ran (its init script is a file): the operations are on the page.
                        page.wait_for_selector(".opblock-tag", timeout=15_000)
                    if "next=javascript" in url:
                        page.click("text=No, take me back")
                        page.wait_for_url(f"{base}{CHANGELIST}")
                context.close()
        finally:
            browser.close()
    assert violations == []
    assert dialogs == []  # no injected alert() ran
