"""Callback endpoints under junk (Hypothesis) and under concurrent duplicate deliveries (PostgreSQL)."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.callbacks.tokens import static_token
from payments.models import AuditEvent, CallbackOutcome, DarajaCallback, Payment, PayoutStatus
from tests.factories import b2c_result, make_payout, sample

ROUTES = [
    "b2c-result",
    "b2c-timeout",
    "status-result",
    "status-timeout",
    "balance-result",
    "balance-timeout",
    "stk",
    "c2b-confirmation",
    "c2b-validation",
]
STATIC_SCOPE = {
    "balance-result": "balance",
    "balance-timeout": "balance",
    "stk": "stk",
    "c2b-confirmation": "c2b",
    "c2b-validation": "c2b",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
# Keys Daraja uses, so the fuzz reaches the parsers and not just the "not a Result" branch.
daraja_keys = st.sampled_from(
    [
        "Result",
        "ResultCode",
        "ResultDesc",
        "OriginatorConversationID",
        "ResultParameters",
        "ResultParameter",
        "Key",
        "Value",
        "Body",
        "stkCallback",
        "CheckoutRequestID",
        "CallbackMetadata",
        "Item",
        "TransID",
        "TransAmount",
        "MSISDN",
        "ReferenceData",
    ]
)
daraja_like = st.recursive(
    json_values,
    lambda children: st.dictionaries(daraja_keys, children, max_size=5) | st.lists(children, max_size=3),
    max_leaves=25,
)
junk_bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    json_values.map(json.dumps),
    daraja_like.map(json.dumps),
)


def _token(name: str, payout) -> str:
    return payout.callback_token if name not in STATIC_SCOPE else static_token(STATIC_SCOPE[name])


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(name=st.sampled_from(ROUTES), body=junk_bodies)
def test_junk_never_gives_5xx_and_changes_nothing(name, body):
    payout = make_payout()
    client = Client(raise_request_exception=False)
    response = client.post(
        reverse(f"callbacks:{name}", kwargs={"token": _token(name, payout)}), data=body, content_type="application/json"
    )

    assert response.status_code in (200, 400), response.content
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED
    assert not AuditEvent.objects.filter(payout=payout).exists()
    assert not Payment.objects.exists() or name == "c2b-confirmation"
    stored = DarajaCallback.objects.order_by("-id").first()
    assert stored.outcome != CallbackOutcome.RECEIVED  # every request ends with a recorded outcome


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(
        [
            "ResultCode",
            "ResultType",
            "ConversationID",
            "TransactionID",
            "ResultParameters",
            "ReferenceData",
            "ResultDesc",
        ]
    ),
    value=json_values,
)
def test_mutated_documented_result_for_no_payout_changes_nothing(field, value):
    payout = make_payout()
    body = b2c_result(payout)
    body["Result"]["OriginatorConversationID"] = "fuzz-no-such-payout"
    body["Result"][field] = value
    response = Client(raise_request_exception=False).post(
        reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token}),
        data=json.dumps(body),
        content_type="application/json",
    )
    assert response.status_code in (200, 400)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED


@pytest.mark.django_db
def test_all_documented_samples_through_their_routes_never_fail():
    payout = make_payout()
    for name, sample_name in [
        ("b2c-result", "b2c_result_success"),
        ("b2c-result", "b2c_result_failure"),
        ("balance-result", "account_balance_result"),
        ("stk", "stk_callback_success"),
        ("stk", "stk_callback_cancelled"),
        ("c2b-confirmation", "c2b_confirmation"),
        ("c2b-validation", "c2b_confirmation"),
        ("b2c-timeout", "b2c_request_v3"),
    ]:
        response = Client().post(
            reverse(f"callbacks:{name}", kwargs={"token": _token(name, payout)}),
            data=json.dumps(sample(sample_name)),
            content_type="application/json",
        )
        assert response.status_code == 200, (name, sample_name, response.content)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_identical_results_at_once_make_one_change():
    payout = make_payout()
    url = reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token})
    body = json.dumps(b2c_result(payout))
    barrier = threading.Barrier(50)
    statuses: list[int] = []

    def deliver():
        try:
            barrier.wait(timeout=20)
            statuses.append(Client().post(url, data=body, content_type="application/json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert statuses == [200] * 50
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert AuditEvent.objects.filter(payout=payout).count() == 1
    outcomes = list(DarajaCallback.objects.values_list("outcome", flat=True))
    assert len(outcomes) == 50
    assert outcomes.count(CallbackOutcome.PROCESSED) == 1
    assert outcomes.count(CallbackOutcome.DUPLICATE) == 49
