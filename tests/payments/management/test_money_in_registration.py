"""Registering with Daraja through the real commands: `pull_register` (1000 and 1001 both success, and it says
which) and `register_c2b_urls` (the URLs this system serves; a URL holding a word Safaricom refuses is refused
before anything is sent). Daraja faked by `responses`."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from payments.callbacks.tokens import static_token
from tests.fake_daraja import BASE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]

PULL_REGISTER = f"{BASE}/pulltransactions/v1/register"
C2B_REGISTER = f"{BASE}/mpesa/c2b/v2/registerurl"


@pytest.fixture
def nominated(settings):
    settings.MPESA_PULL_NOMINATED_NUMBER = "254722000000"
    return settings


def command(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def sent(mock, url: str) -> list[dict]:
    return [json.loads(call.request.body) for call in mock.calls if call.request.url == url]


@pytest.mark.parametrize("code, said", [
    ("1000", "Registered the shortcode for Pull Transactions (1000)."),
    ("1001", "The shortcode was already registered for Pull Transactions (1001): nothing changed."),
])  # fmt: skip
def test_pull_register_takes_both_answers_as_success_and_says_which(daraja, nominated, code, said):
    daraja.post(PULL_REGISTER, json={"ResponseRefID": "feb5e3f2", "ResponseStatus": code, "ShortCode": "174379",
                                     "ResponseDescription": "Shortcode Registered Successfully"})  # fmt: skip
    printed = command("pull_register")

    assert said in printed
    [body] = sent(daraja, PULL_REGISTER)
    assert (body["ShortCode"], body["RequestType"], body["NominatedNumber"]) == ("174379", "Pull", "254722000000")


def test_pull_register_without_a_nominated_number_sends_nothing(daraja, settings):
    settings.MPESA_PULL_NOMINATED_NUMBER = ""
    with pytest.raises(CommandError, match="MPESA_PULL_NOMINATED_NUMBER must be 12 digits") as refused:
        command("pull_register")
    assert refused.value.returncode == 2
    assert sent(daraja, PULL_REGISTER) == []


def test_pull_register_refused_by_daraja_says_why(daraja, nominated):
    daraja.post(PULL_REGISTER, status=400, json={"requestId": "x", "errorCode": "400.001",
                                                 "errorMessage": "Invalid shortcode"})  # fmt: skip
    with pytest.raises(CommandError, match="400.001 Invalid shortcode"):
        command("pull_register")


def test_register_c2b_urls_registers_the_urls_we_serve_and_prints_the_answer(daraja):
    daraja.post(C2B_REGISTER, json={"OriginatorCoversationID": "7619-37765134-1", "ResponseCode": "0",
                                    "ResponseDescription": "success"})  # fmt: skip
    first = command("register_c2b_urls")
    again = command("register_c2b_urls", "--response-type", "Cancelled")  # harmless

    assert first == again == "Safaricom answered 0: success\n"
    bodies = sent(daraja, C2B_REGISTER)
    base = "https://payouts.example.co.ke"
    token = static_token("c2b")
    assert bodies[0] == {
        "ShortCode": "174379", "ResponseType": "Completed",
        "ConfirmationURL": base + reverse("callbacks:c2b-confirmation", kwargs={"token": token}),
        "ValidationURL": base + reverse("callbacks:c2b-validation", kwargs={"token": token}),
    }  # fmt: skip
    assert bodies[1]["ResponseType"] == "Cancelled"


def test_a_url_with_a_word_safaricom_refuses_is_refused_before_calling(daraja, settings):
    settings.CALLBACK_BASE_URL = "https://mpesa-payouts.example.co.ke"
    with pytest.raises(CommandError) as refused:
        command("register_c2b_urls")

    assert refused.value.returncode == 2
    message = str(refused.value)
    assert 'contains "mpesa", a word Safaricom refuses' in message
    assert static_token("c2b") not in message and "example.co.ke" not in message  # never the URL or its token
    assert sent(daraja, C2B_REGISTER) == []


def test_an_unknown_response_type_is_refused(daraja):
    with pytest.raises(CommandError, match="invalid choice"):
        command("register_c2b_urls", "--response-type", "Maybe")
    assert sent(daraja, C2B_REGISTER) == []
