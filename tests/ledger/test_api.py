"""`GET /api/ledger/accounts/`, `/api/ledger/accounts/{code}/entries/`, `/api/ledger/trial-balance/?at=`, the
four-eyes funding endpoints, and the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ledger import accounts
from tests.factories import make_approver, make_requester, make_user
from tests.ledger.conftest import api
from tests.ledger.factories import make_posting as post

pytestmark = pytest.mark.django_db


def test_accounts_list_codes_names_types_and_balances():
    post("1000", source_id="a")
    response = api(make_approver()).get("/api/ledger/accounts/")
    assert response.status_code == 200
    rows = {row["code"]: row for row in response.json()}
    assert set(accounts.DEFAULT_ACCOUNTS) <= set(rows)
    assert (rows["mpesa_utility"]["type"], rows["mpesa_utility"]["balance"]) == ("asset", "1000.00")
    assert (rows["float_funding"]["type"], rows["float_funding"]["balance"]) == ("equity", "1000.00")
    assert rows["payouts_in_flight"]["name"] == "Payouts in flight"


def test_entries_are_cursor_paginated_newest_first_and_filtered_by_date(clock):
    now = timezone.now()
    for n in range(5):
        post(str(10 + n), source_id=f"e{n}", when=now - timedelta(days=n))
    client = api(make_requester())
    first = client.get("/api/ledger/accounts/mpesa_utility/entries/?page_size=2").json()
    assert [e["debit"] for e in first["results"]] == ["10.00", "11.00"]
    second = client.get(first["next"]).json()
    assert [e["debit"] for e in second["results"]] == ["12.00", "13.00"]
    day = timezone.localdate(now - timedelta(days=2)).isoformat()
    one_day = client.get(f"/api/ledger/accounts/mpesa_utility/entries/?start={day}&end={day}").json()
    assert [e["debit"] for e in one_day["results"]] == ["12.00"]
    assert one_day["results"][0]["kind"] == "funding"


def test_entries_refuse_a_bad_date_and_an_unknown_account():
    client = api(make_approver())
    assert client.get("/api/ledger/accounts/mpesa_utility/entries/?start=yesterday").status_code == 400
    assert client.get("/api/ledger/accounts/mpesa_utility/entries/?start=2024-07-02&end=2024-07-01").status_code == 400
    assert client.get("/api/ledger/accounts/nope/entries/").status_code == 404


def test_trial_balance_now_and_as_of_a_past_moment(clock):
    earlier = timezone.now() - timedelta(days=10)
    post("300", source_id="old", when=earlier)
    post("50", source_id="new")
    client = api(make_approver())
    now = client.get("/api/ledger/trial-balance/").json()
    assert (now["debits"], now["credits"], now["balanced"]) == ("350.00", "350.00", True)
    lines = {line["code"]: line for line in now["lines"]}
    assert lines["mpesa_utility"]["balance"] == "350.00"
    at = (earlier + timedelta(seconds=1)).isoformat()
    past = client.get("/api/ledger/trial-balance/", {"at": at}).json()
    assert (past["debits"], past["balanced"]) == ("300.00", True)
    assert client.get("/api/ledger/trial-balance/?at=not-a-time").status_code == 400


def test_reads_need_the_ledger_view_permission():
    assert api().get("/api/ledger/accounts/").status_code in (401, 403)
    staff_without_role = make_user(is_staff=True)
    assert api(staff_without_role).get("/api/ledger/accounts/").status_code == 403
    assert api(make_user()).get("/api/ledger/trial-balance/").status_code == 403
    superuser = make_user(is_staff=True, is_superuser=True)
    assert api(superuser).get("/api/ledger/trial-balance/").status_code == 200


def test_funding_needs_two_people_and_is_posted_once_approved():
    requester, approver = make_requester(), make_approver()
    created = api(requester).post("/api/ledger/funding/", {"kind": "opening_balance", "amount": "250000.00",
                                                          "note": "Utility balance on 1 July"}, format="json")
    assert created.status_code == 201, created.content
    request_id = created.json()["id"]
    assert api(requester).post(f"/api/ledger/funding/{request_id}/approve/").status_code == 403
    assert api(approver).get("/api/ledger/trial-balance/").json()["debits"] == "0.00"
    approved = api(approver).post(f"/api/ledger/funding/{request_id}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert api(approver).post(f"/api/ledger/funding/{request_id}/approve/").status_code == 409
    rows = {row["code"]: row["balance"] for row in api(approver).get("/api/ledger/accounts/").json()}
    assert rows["mpesa_utility"] == "250000.00"
    assert api(requester).post("/api/ledger/funding/", {"kind": "top_up", "amount": "-5", "note": "x"},
                               format="json").status_code == 400


def test_openapi_documents_the_ledger_endpoints():
    schema = api(make_user(is_staff=True, is_superuser=True)).get("/api/schema/?format=json").json()
    for route in ("/api/ledger/accounts/", "/api/ledger/accounts/{code}/entries/", "/api/ledger/trial-balance/"):
        assert route in schema["paths"], route


def test_the_working_account_gets_its_opening_balance_under_four_eyes():
    requester, approver = make_requester(), make_approver()
    created = api(requester).post("/api/ledger/funding/", {
        "kind": "opening_balance", "amount": "750000.00", "note": "Working balance on 1 July",
        "account": "mpesa_working",
    }, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["account"] == "mpesa_working"
    assert api(approver).post(f"/api/ledger/funding/{created.json()['id']}/approve/").status_code == 200
    rows = {row["code"]: row["balance"] for row in api(approver).get("/api/ledger/accounts/").json()}
    assert (rows["mpesa_working"], rows["mpesa_utility"]) == ("750000.00", "0.00")
    # Only our M-Pesa accounts are funded: another account is a 400 that writes nothing.
    refused = api(requester).post("/api/ledger/funding/", {"kind": "top_up", "amount": "5", "note": "x",
                                                          "account": "supplier_payments"}, format="json")
    assert refused.status_code == 400 and "account" in refused.json()
