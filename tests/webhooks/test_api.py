"""`/api/webhook-endpoints/` and `/api/events/` through the real routes: the permission gate, the secret shown
once, the event bodies and the feed's cursor, and the OpenAPI document."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from tests.factories import make_approver, make_payment, make_requester, make_user
from tests.payments.factories import token_client as api
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_endpoints_need_the_manage_webhooks_permission(receiver):
    staff = make_user("staffer", is_staff=True)
    body = {"url": receiver.url(), "events": ["*"]}
    assert api().get("/api/webhook-endpoints/").status_code in (401, 403)
    assert api(staff).post("/api/webhook-endpoints/", body, format="json").status_code == 403
    assert api(staff).get("/api/webhook-endpoints/").status_code == 403
    assert api(staff).get("/api/events/").status_code == 403
    superuser = make_user("root", is_staff=True, is_superuser=True)
    assert api(superuser).post("/api/webhook-endpoints/", body, format="json").status_code == 201
    assert WebhookEndpoint.objects.count() == 1


def test_secret_is_returned_once_and_stored_encrypted(integrator, receiver):
    client = api(integrator)
    created = client.post("/api/webhook-endpoints/", {"url": receiver.url(), "events": ["payout.completed"],
                                                       "description": "ERP"}, format="json")
    assert created.status_code == 201
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert body["events"] == ["payout.completed"] and body["enabled"] is True
    stored = WebhookEndpoint.objects.get(pk=body["id"])
    assert secret not in stored.secret_encrypted

    detail = client.get(f"/api/webhook-endpoints/{body['id']}/")
    listed = client.get("/api/webhook-endpoints/")
    assert detail.status_code == listed.status_code == 200
    assert "secret" not in detail.json() and secret not in detail.content.decode() + listed.content.decode()

    patched = client.patch(f"/api/webhook-endpoints/{body['id']}/", {"events": ["*"], "enabled": False},
                           format="json")
    assert patched.status_code == 200 and patched.json()["events"] == ["*"] and patched.json()["enabled"] is False
    assert secret not in patched.content.decode()
    assert client.put(f"/api/webhook-endpoints/{body['id']}/", {}, format="json").status_code == 405
    assert client.delete(f"/api/webhook-endpoints/{body['id']}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"url": "ftp://127.0.0.1/x", "events": ["*"]}, "url"),
        ({"url": "not a url", "events": ["*"]}, "url"),
        ({"url": "http://127.0.0.1:9/x", "events": ["payout.exploded"]}, "events"),
        ({"url": "http://127.0.0.1:9/x", "events": []}, "events"),
    ],
)
def test_bad_endpoint_input_is_a_400_and_writes_nothing(integrator, payload, field):
    response = api(integrator).post("/api/webhook-endpoints/", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not WebhookEndpoint.objects.exists()


def test_events_feed_lists_events_in_order_with_a_cursor(integrator, broker):
    requester, approver = make_requester("req"), make_approver("appr")
    payment = make_payment(amount=Decimal("900"))
    refund = api(requester).post(f"/api/payments/{payment.pk}/refund/", {"reason": "Returned", "amount": "300"},
                                 format="json")
    assert refund.status_code == 201
    payout = api(requester).post("/api/payouts/", {"phone": "254712345678", "amount": "250",
                                                   "remarks": "Trainer fee"}, format="json")
    assert payout.status_code == 201
    assert api(approver).post(f"/api/payouts/{payout.json()['id']}/approve/").status_code == 200

    feed = api(integrator).get("/api/events/")
    assert feed.status_code == 200
    events = feed.json()["results"]
    assert [e["type"] for e in events] == ["refund.requested", "payout.requested", "payout.approved"]
    assert len({e["id"] for e in events}) == 3 and all(e["id"].startswith("evt_") for e in events)
    # `data` is the REST API's own detail of the object, as it was at the event.
    detail = api(approver).get(f"/api/payouts/{payout.json()['id']}/").json()
    assert events[2]["data"]["id"] == detail["id"] and events[2]["data"]["status"] == "approved"
    assert set(events[2]["data"]) == set(detail)
    assert events[0]["data"]["kind"] == "refund" and events[0]["data"]["amount"] == "300.00"
    assert events[1]["data"]["status"] == "pending_approval"

    first_page = api(integrator).get("/api/events/", {"page_size": 2}).json()
    assert [e["id"] for e in first_page["results"]] == [e["id"] for e in events[:2]]
    second_page = api(integrator).get(first_page["next"]).json()
    assert [e["id"] for e in second_page["results"]] == [events[2]["id"]] and second_page["next"] is None
    after_last = api(integrator).get("/api/events/", {"after": events[2]["id"]}).json()
    assert after_last == {"next": None, "results": []}
    one = api(integrator).get(f"/api/events/{events[1]['id']}/")
    assert one.status_code == 200 and one.json() == events[1]
    assert api(integrator).get("/api/events/", {"after": "evt_" + "0" * 32}).status_code == 404


def test_openapi_documents_endpoints_and_event_payloads(integrator):
    # A business's own system (manage_webhooks only) reads the schema; staff status alone does not.
    assert api(make_user("docs", is_staff=True)).get("/api/schema/", {"format": "json"}).status_code == 403
    schema = api(integrator).get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    document = schema.json()
    assert "/api/webhook-endpoints/" in document["paths"]
    assert "/api/webhook-endpoints/{id}/rotate/" in document["paths"]
    assert "/api/events/" in document["paths"]
    components = document["components"]["schemas"]
    assert "WebhookEvent" in components and "WebhookEventData" in components
    data_refs = str(components["WebhookEventData"])
    assert "PayoutDetail" in data_refs and "Payment" in data_refs


def test_the_events_feed_follows_the_read_permissions(broker):
    """The README's requester and approver tokens read the feed (they may view payouts and payments); a user who
    may view only payments reads none of a payout's events; someone with no role still gets 403."""
    requester, approver = make_requester("reader-req"), make_approver("reader-appr")
    payout = api(requester).post("/api/payouts/", {"phone": "254712345678", "amount": "250",
                                                   "remarks": "Trainer fee"}, format="json")  # fmt: skip
    assert payout.status_code == 201
    assert api(approver).post(f"/api/payouts/{payout.json()['id']}/approve/").status_code == 200
    for user in (requester, approver):
        feed = api(user).get("/api/events/")
        assert feed.status_code == 200, feed.content
        assert [e["type"] for e in feed.json()["results"]] == ["payout.requested", "payout.approved"]
    event_id = feed.json()["results"][0]["id"]
    assert api(requester).get(f"/api/events/{event_id}/").status_code == 200

    payments_only = make_user("cashier", is_staff=True)
    view_payment = Permission.objects.get(codename="view_payment", content_type__app_label="payments")
    payments_only.user_permissions.add(view_payment)
    assert api(payments_only).get("/api/events/").json()["results"] == []
    assert api(payments_only).get(f"/api/events/{event_id}/").status_code == 404
    assert api(make_user("nobody", is_staff=True)).get("/api/events/").status_code == 403
