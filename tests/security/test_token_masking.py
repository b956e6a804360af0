"""Issue 16, "secrets and tokens stay out of logs and answers": the callback URL tokens we issue (one per payout,
one per static URL) must not appear whole in the web server's access log, in Django's request warnings, in an
API answer (the discrepancies list shows callback paths), or in a stored body (a timeout echo carries our
ResultURL and QueueTimeOutURL back). A real gunicorn with its access log, the real routes, then a grep for
every token."""

from __future__ import annotations

import json
import logging
import sys

import pytest
import requests
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from payments.callbacks.tokens import TOKEN_SCOPE, payout_urls, static_token, static_url
from payments.models import DarajaCallback, PayoutStatus
from tests.e2e.results import b2c_success_body, timeout_echo_body
from tests.e2e.support import GroupProcess, free_port, port_open
from tests.factories import make_payout, make_user, sample
from tests.integration.conftest import wait_until
from tests.security.conftest import web_environment

FORGED = "f0" * 20  # the shape of a token, nobody's


def issued_tokens(payouts) -> list[str]:
    scopes = {scope for scope in TOKEN_SCOPE.values() if scope != "payout"}
    return [payout.callback_token for payout in payouts] + [static_token(scope) for scope in scopes] + [FORGED]


def echo_with_our_urls(payout, base_url: str = "") -> dict:
    body = timeout_echo_body(payout)
    urls = payout_urls(payout.callback_token)
    body["ResultURL"], body["QueueTimeOutURL"] = urls["b2c-result"], urls["b2c-timeout"]
    if base_url:
        for key in ("ResultURL", "QueueTimeOutURL"):
            body[key] = body[key].replace("https://payouts.example.co.ke", base_url)
    return body


def stored_text() -> str:
    rows = DarajaCallback.objects.values_list("raw_body", "path", "error", "headers")
    return "\n".join(f"{body}|{path}|{error}|{json.dumps(headers)}" for body, path, error, headers in rows)


def assert_no_token(text: str, tokens: list[str], where: str) -> None:
    found = [token for token in tokens if token in text]
    assert not found, f"{len(found)} token(s) whole in {where}: {found[:3]}"


@pytest.mark.django_db
def test_test_client_routes_mask_tokens_in_bodies_api_and_request_warnings(client, caplog):
    payouts = [make_payout(status=PayoutStatus.SUBMITTED) for _ in range(3)]
    tokens = issued_tokens(payouts)
    with caplog.at_level(logging.INFO):
        for payout in payouts:
            url = reverse("callbacks:b2c-timeout", kwargs={"token": payout.callback_token})
            body = json.dumps(echo_with_our_urls(payout))
            assert client.post(url, data=body, content_type="application/json").status_code == 200
            url = reverse("callbacks:status-result", kwargs={"token": payout.callback_token})
            assert client.post(url, data="not json", content_type="application/json").status_code == 400
        url = reverse("callbacks:b2c-result", kwargs={"token": FORGED})
        assert client.post(url, data="{}", content_type="application/json").status_code == 404
        assert client.get(static_url("stk").removeprefix("https://payouts.example.co.ke")).status_code == 405

    api = APIClient()
    api.force_authenticate(make_user(is_staff=True, is_superuser=True))
    listed = api.get("/api/reconciliation/discrepancies/").content.decode()
    assert "/callbacks/status/result/" in listed  # the invalid ones are listed, with their path...
    assert_no_token(listed, tokens, "the discrepancies API")  # ...masked
    assert_no_token(stored_text(), tokens, "stored callbacks")
    assert_no_token(caplog.text, tokens, "captured log records")
    assert "Not Found: /callbacks/b2c/result/f0f0f0…/" in caplog.text


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_gunicorn_access_log_and_answers_never_carry_a_whole_token(gunicorn):
    server = gunicorn(CALLBACK_REJECTED_STORE_PER_MINUTE="1000")
    payouts = [make_payout(status=PayoutStatus.SUBMITTED, phone=f"25471100{n:04d}") for n in range(6)]
    tokens = issued_tokens(payouts)
    answers: list[str] = []

    def post(name: str, token: str, body, **kwargs) -> requests.Response:
        url = server.url + reverse(f"callbacks:{name}", kwargs={"token": token})
        data = body if isinstance(body, str) else json.dumps(body)
        # A Referer naming a callback URL too: the access log writes it.
        headers = {"Content-Type": "application/json", "Referer": url, **kwargs.pop("headers", {})}
        response = requests.post(url, data=data, headers=headers, timeout=15, **kwargs)
        answers.append(response.text)
        return response

    for n, payout in enumerate(payouts):
        if n % 2:
            assert post("b2c-result", payout.callback_token, b2c_success_body(payout, receipt=f"TKM{n:07d}")).ok
        else:
            assert post("b2c-timeout", payout.callback_token, echo_with_our_urls(payout, server.url)).ok
        assert post("status-result", payout.callback_token, "garbage").status_code == 400
        assert post("status-timeout", payout.callback_token, {"Result": {}}).status_code in (200, 400)
    for name in ("stk", "c2b-confirmation", "c2b-validation", "balance-result", "balance-timeout"):
        post(name, static_token(TOKEN_SCOPE[name]), sample("c2b_confirmation") if "c2b" in name else "{}")
        assert post(name, FORGED, "{}").status_code == 404
    assert post("b2c-result", FORGED, "{}").status_code == 404
    assert post("b2c-result", FORGED, "x" * 70_000).status_code in (404, 413)
    gets = [requests.get(server.url + reverse("callbacks:stk", kwargs={"token": static_token("stk")}), timeout=15)]
    assert gets[0].status_code == 405

    superuser = make_user(is_staff=True, is_superuser=True)
    api = requests.Session()
    api.headers["Authorization"] = f"Token {Token.objects.create(user=superuser).key}"
    listed = api.get(f"{server.url}/api/reconciliation/discrepancies/", timeout=15)
    assert listed.status_code == 200 and "/callbacks/" in listed.text
    answers.append(listed.text)

    server.stop()  # flushes its log
    log = server.log()
    assert '"POST /callbacks/b2c/result/' in log  # the access log is on, and names the paths...
    assert "Not Found: /callbacks/" in log  # ...and Django's request warnings are in it too
    assert_no_token(log, tokens, "gunicorn's log (access log and Django's warnings)")  # ...masked
    assert_no_token("\n".join(answers), tokens, "the answers")
    assert_no_token(stored_text(), tokens, "stored callbacks")


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_runserver_access_log_of_make_run_masks_tokens_too(tmp_path):
    """`make run` serves the web with runserver, whose own access log (`django.server`) names each path."""
    port = free_port()
    server = GroupProcess.start(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=web_environment(port), log_path=tmp_path / "runserver.log", name="runserver",
    )  # fmt: skip
    try:
        wait_until(lambda: port_open(port), 30, message="runserver to listen")
        payout = make_payout(status=PayoutStatus.SUBMITTED)
        base = f"http://127.0.0.1:{port}"
        for name, token in (("b2c-result", payout.callback_token), ("b2c-result", FORGED),
                            ("c2b-validation", static_token("c2b"))):  # fmt: skip
            url = base + reverse(f"callbacks:{name}", kwargs={"token": token})
            requests.post(url, data=json.dumps(b2c_success_body(payout, receipt="RUN0000001")), timeout=15)
    finally:
        server.stop()
    log = server.log()
    assert '"POST /callbacks/b2c/result/' in log
    assert_no_token(log, issued_tokens([payout]), "runserver's log")
