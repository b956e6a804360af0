"""The approval rules in the console: a superuser adds and changes them (each change an audit event with its
old and new values), nobody else sees the page, and a bulk file's payouts follow the rule for bulk files."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from payments.models import ApprovalRule, AuditEvent, PayoutBatch
from tests.factories import make_approver, make_user
from tests.payments.admin.conftest import logged_in, messages_of

pytestmark = pytest.mark.django_db

ADD = reverse("admin:payments_approvalrule_add")
LIST = reverse("admin:payments_approvalrule_changelist")
FORM = {"name": "Bulk files: a Finance manager", "position": "10", "rail": "", "source": "bulk",
        "min_amount": "0", "max_amount": "", "approvals": "2", "manager_group": "Finance managers", "active": "on"}


@pytest.fixture
def boss_client():
    return logged_in(make_user("boss", is_staff=True, is_superuser=True))


def test_a_superuser_adds_and_changes_a_rule_and_each_change_is_audited(boss_client):
    assert boss_client.post(ADD, FORM).status_code == 302
    rule = ApprovalRule.objects.get()
    page = reverse("admin:payments_approvalrule_change", args=(rule.pk,))
    assert boss_client.post(page, {**FORM, "approvals": "3"}).status_code == 302
    added, changed = AuditEvent.objects.filter(action__startswith="approval_rule").order_by("pk")
    assert (added.action, added.details["old"], added.details["new"]["source"]) == ("approval_rule_added", None,
                                                                                    "bulk")
    assert changed.action == "approval_rule_changed" and changed.source == "admin"
    assert (changed.details["old"]["approvals"], changed.details["new"]["approvals"]) == (2, 3)
    assert changed.actor.username == "boss"
    assert "Bulk files: a Finance manager" in boss_client.get(LIST).content.decode()


def test_a_bad_rule_is_shown_on_the_form_and_nothing_is_saved(boss_client):
    page = boss_client.post(ADD, {**FORM, "approvals": "1"})  # a group needs a second approver
    assert page.status_code == 200 and "needs at least 2 approvals" in page.content.decode()
    assert not ApprovalRule.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="approval_rule").exists()


def test_nobody_but_a_superuser_sees_or_changes_the_rules(boss_client):
    boss_client.post(ADD, FORM)
    alan = logged_in(make_approver("alan"))
    assert alan.get(LIST).status_code == 403
    assert alan.post(ADD, {**FORM, "name": "mine"}).status_code == 403
    assert ApprovalRule.objects.count() == 1


def test_a_bulk_file_follows_the_rule_for_bulk_files(boss_client, requester_client):
    boss_client.post(ADD, FORM)
    csv = "phone,amount,remarks\n0712345678,1500,March trainer fee\n"
    page = requester_client.post(reverse("admin:payments_payout_bulk_upload"), {
        "file": SimpleUploadedFile("march.csv", csv.encode(), content_type="text/csv"), "name": "March",
        "command_id": "BusinessPayment"})
    requester_client.post(reverse("admin:payments_payout_bulk_confirm"), {"token": page.context["token"]})
    payout = PayoutBatch.objects.get().payouts.get()
    assert payout.required_approvals == 2
    assert payout.approval_rule["source"] == "bulk" and payout.approval_rule["manager_group"] == "Finance managers"
    # Two approvers, neither a Finance manager: recorded, still waiting, and the page says why.
    for name in ("alan", "beth"):
        done = logged_in(make_approver(name)).post(
            reverse("admin:payments_payout_approve"), {"ids": str(payout.pk), "confirm": "yes"}, follow=True)
    assert any("'Finance managers'" in m for m in messages_of(done))
    payout.refresh_from_db()
    assert payout.status == "pending_approval"
    mary = make_approver("mary")
    mary.groups.add(Group.objects.get_or_create(name="Finance managers")[0])
    logged_in(mary).post(reverse("admin:payments_payout_approve"), {"ids": str(payout.pk), "confirm": "yes"})
    payout.refresh_from_db()
    assert payout.status == "approved"
