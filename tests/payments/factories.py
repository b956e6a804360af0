"""Payments' factories: plain functions, each making one valid row, overridable by keyword. The people
(`make_user`, `make_requester`, `make_approver`) are here because their groups are payments' roles
(payments/roles.py). `tests/factories.py` re-exports every name for the tests written before the split."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from payments.models import (
    AuditAction,
    EventSource,
    Payment,
    PaymentSource,
    PaymentStatus,
    Payout,
    PayoutKind,
    PayoutStatus,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SAMPLES = FIXTURES / "daraja_samples"
THIRD_PARTY = FIXTURES / "third_party"
_seq = itertools.count(1)


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def third_party(name: str) -> dict:
    """A body in a shape other integrations received from Daraja (tests/fixtures/third_party/README.md)."""
    return json.loads((THIRD_PARTY / f"{name}.json").read_text())


def make_user(username: str | None = None, *, groups: tuple[str, ...] = (), **fields):
    user = get_user_model().objects.create_user(
        username=username or f"user{next(_seq)}", password="pass-Word-123", **fields
    )
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


def make_requester(username: str | None = None, **fields):
    return make_user(username, groups=("Payout requesters",), is_staff=True, **fields)


def make_approver(username: str | None = None, **fields):
    return make_user(username, groups=("Payout approvers",), is_staff=True, **fields)


def make_payment(**fields) -> Payment:
    n = next(_seq)
    defaults = dict(
        source=PaymentSource.C2B,
        status=PaymentStatus.COMPLETED,
        receipt=f"RCP{n:07d}",
        phone="254712345678",
        amount=Decimal("1000.00"),
        account_reference=f"ORDER-{n}",
    )
    defaults.update(fields)
    return Payment.objects.create(**defaults)


def make_payout(**fields) -> Payout:
    defaults = dict(
        kind=PayoutKind.DISBURSEMENT,
        status=PayoutStatus.SUBMITTED,
        phone="254705912645",
        amount=Decimal("10.00"),
        remarks="Trainer payout",
        recipient_name="Nicholas Songok",
    )
    defaults.update(fields)
    if "requested_by" not in defaults:
        defaults["requested_by"] = make_requester()
    return Payout.objects.create(**defaults)


def b2c_result(payout: Payout, name: str = "b2c_result_success", **overrides) -> dict:
    """A documented B2C result body re-addressed to `payout`."""
    body = sample(name)
    body["Result"]["OriginatorConversationID"] = payout.originator_conversation_id
    for key, value in overrides.items():
        body["Result"][key] = value
    return body


# --- Reconciliation (approvals, callbacks, float readings) ----------------------------------------------


def make_approval(payout: Payout, approver=None, **fields):
    from payments.models import PayoutApproval

    defaults = dict(
        payout=payout,
        approver=approver or make_approver(),
        requested_by=payout.requested_by,
        amount=payout.amount,
        phone=payout.phone,
        command_id=payout.command_id,
    )
    defaults.update(fields)
    return PayoutApproval.objects.create(**defaults)


def make_callback(**fields):
    from payments.models import CallbackKind, CallbackOutcome, DarajaCallback

    defaults = dict(kind=CallbackKind.B2C_RESULT, outcome=CallbackOutcome.PROCESSED, raw_body="{}", path="/callbacks/")
    defaults.update(fields)
    return DarajaCallback.objects.create(**defaults)


def make_float_reading(**fields):
    from payments.models import FloatBalance, FloatSource

    defaults = dict(utility_available=Decimal("50000.00"), source=FloatSource.BALANCE_QUERY)
    defaults.update(fields)
    return FloatBalance.objects.create(**defaults)


# How a test moves a payout along the lifecycle's table, as the usual cause of each change would.
_USUAL_CAUSE = {
    PayoutStatus.SENDING: (AuditAction.SENDING, EventSource.TASK),  # the send task's claim
    PayoutStatus.FAILED: (AuditAction.FAILED, EventSource.CALLBACK),  # a final-failure result
    PayoutStatus.NEEDS_REVIEW: (AuditAction.UNANSWERED, EventSource.TASK),  # status queries ran out
    PayoutStatus.COMPLETED: (AuditAction.COMPLETED, EventSource.CALLBACK),  # a success result
}


def advance(payout_id: int, to_status: str, *, fields: dict | None = None) -> Payout | None:
    """The payout moved to `to_status` through payments.payouts.lifecycle (None when the table does not
    allow it from where the payout is)."""
    from payments.payouts.lifecycle import payout_transition

    action, source = _USUAL_CAUSE[to_status]
    return payout_transition(payout_id=payout_id, action=action, to_status=to_status, source=source, fields=fields)


def token_client(user=None):
    """An API client that signs in as `user` with its token, as an integration would (anonymous when None)."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
