"""Demo users, payments and a realistic fortnight for a local run (`make run` calls it). Safe to run again:
nothing is duplicated (the fortnight is seeded once; flush the database for a fresh one).

The fortnight ends now: C2B payments, refunds and disbursements in every state (completed, failed with
different result codes, verifying, needs_review, pending approval), a CSV-style batch, float readings over 30
days, and a callback refused. The pending ones are requested through the services, so approving them in the
admin sends them to the simulator like any other. Besides, a week of November 2026 matches the sample statement
shipped in docs/demo/ (one planted amount mismatch), which the README's walk-through reconciles.

Every seeded time is in the past and in lifecycle order (requested, approved, sent, completed). The books
agree: the float's opening balance (a funding request, approved) and the statement's charges and transfer
(statement proposals, accepted) go through the ledger's own services, so once `ledger_backfill` has posted
the history the ledger's float is every float reading, and the last reading is `--float`, what the Daraja
simulator of `make run` starts with: its first balance query finds nothing to flag.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from core.nairobi_time import NAIROBI
from ledger.models import FundingKind, StatementProposal
from ledger.services import money as ledger_money
from ledger.services import statement as ledger_statement
from payments.incoming.refunds import reserve_refund
from payments.models import (
    UNSETTLED_STATUSES,
    AuditAction,
    AuditEvent,
    CallbackKind,
    CallbackOutcome,
    CommandID,
    DarajaCallback,
    EventSource,
    FloatBalance,
    FloatSource,
    Payment,
    PaymentSource,
    PaymentStatus,
    Payout,
    PayoutApproval,
    PayoutBatch,
    PayoutKind,
    PayoutStatus,
    PlanFrequency,
    Recipient,
)
from payments.payouts import services as payout_services
from payments.plans.selectors import plan_words
from payments.plans.services import plan_approve, plan_create
from payments.recipients.services import recipient_approve, recipient_create

DEMO_USERS = [
    # username, group, is_superuser
    ("requester", "Payout requesters", False),
    ("approver", "Payout approvers", False),
    ("approver2", "Payout approvers", False),
    ("admin", None, True),
]
DEMO_PAYMENTS = [
    ("SIM0000001", "254708374149", "1500.00", "ORDER-1001", "Wanjiku Kamau"),
    ("SIM0000002", "254712345678", "12500.00", "ORDER-1002", "Otieno Ouma"),
    ("SIM0000003", "254722000111", "800.00", "ORDER-1003", "Achieng Atieno"),
    ("SIM0000004", "2547 ***** 126", "2300.00", "ORDER-1004", "Masked C2B payer"),
]
# The payouts of the sample statement docs/demo/ORG_600992_Statement_demo.csv: (receipt, Nairobi time,
# amount, name, phone). The statement lists DEMOST0003 as KES 2,050.00: the planted mismatch.
STATEMENT_PAYOUTS = [
    ("DEMOST0001", "2026-11-02 09:14:05", "1500.00", "Jane Wanjiru", "254712345601"),
    ("DEMOST0002", "2026-11-02 11:40:51", "3200.00", "Otieno Juma", "254722000102"),
    ("DEMOST0003", "2026-11-03 10:05:12", "2500.00", "Achieng Atieno", "254733000103"),
    ("DEMOST0004", "2026-11-04 15:22:40", "800.00", "Kamau Njoroge", "254701000104"),
    ("DEMOST0005", "2026-11-05 08:59:03", "12000.00", "Mwangi Kariuki", "254711000105"),
    ("DEMOST0006", "2026-11-06 13:31:27", "4500.00", "Wambui Muthoni", "254799000106"),
]
STATEMENT_MISMATCH = {"DEMOST0003": "2050.00"}
# What only the statement knows: M-Pesa's charge on each of its payouts, and a transfer into the float.
STATEMENT_CHARGE = Decimal("15.00")
STATEMENT_TRANSFER = ("DEMOTF0001", "2026-11-04 07:00:00", Decimal("100000.00"), "Organization Funds Transfer")
STATEMENT_OPENS = "2026-11-01 00:00:00"
# The float the Daraja simulator starts with (`daraja_simulator --float`, as scripts/run_local.py passes it).
DEMO_FLOAT = Decimal("1000000.00")
MARKER = "DEMO-"  # recipient references of the seeded fortnight
# Saved recipients (reference, name, rail, payee, category): docs/recipients.md, docs/payout-plans.md.
DEMO_RECIPIENTS = [
    (f"{MARKER}R001", "Achieng Otieno", "mobile", {"phone": "254712000101"}, "trainer"),
    (f"{MARKER}R002", "Kiprono Langat", "mobile", {"phone": "254712000102"}, "trainer"),
    (f"{MARKER}R003", "Nairobi Water", "paybill", {"party_b": "888880", "account_reference": "ACC-2041"}, "supplier"),
]
NAMES = [
    ("Jane Wanjiru", "254712345601"), ("Otieno Juma", "254722000102"), ("Achieng Atieno", "254733000103"),
    ("Kamau Njoroge", "254701000104"), ("Mwangi Kariuki", "254711000105"), ("Wambui Muthoni", "254799000106"),
    ("Kiprono Langat", "254768000107"), ("Nafula Wekesa", "254745000108"), ("Odhiambo Ouma", "254757000109"),
    ("Chebet Koech", "254790000110"),
]  # fmt: skip
FAILURES = ["1", "2001", "2040", "8006", "11"]

# The event that moved a seeded payout from `sending` to where it ends.
_LAST_ACTION = {
    PayoutStatus.SUBMITTED: AuditAction.SUBMITTED,
    PayoutStatus.COMPLETED: AuditAction.COMPLETED,
    PayoutStatus.FAILED: AuditAction.FAILED,
    PayoutStatus.VERIFYING: AuditAction.RESULT_UNKNOWN,
    PayoutStatus.NEEDS_REVIEW: AuditAction.RESULT_MISMATCH,
}


def _receipt(rng: random.Random) -> str:
    return "T" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(9))


def _payment_receipt(rng: random.Random) -> str:
    return "P" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(9))


class Command(BaseCommand):
    help = (
        "Creates demo users (a requester, two approvers, an admin), demo payments and a realistic fortnight of "
        "payouts in every state, a batch, 30 days of float readings, and the payouts of the sample statement."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", default="demo-pass-123", help="Password for every demo user.")
        parser.add_argument("--seed", type=int, default=17, help="Random seed of the fortnight.")
        parser.add_argument(
            "--float", dest="float_now", type=Decimal, default=DEMO_FLOAT,
            help="The B2C float M-Pesa holds now (the latest reading, and the ledger's once backfilled): what "
            "the simulator reports, so its balance queries agree with the ledger.",
        )  # fmt: skip

    def handle(self, *args, password, seed, float_now, **options):
        if settings.MPESA_ENVIRONMENT == "production":
            raise CommandError("seed_demo refuses to run with MPESA_ENVIRONMENT=production.")
        User = get_user_model()
        users = {}
        for username, group, superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
            if created:
                user.set_password(password)
                user.is_superuser = superuser
                user.save()
            if group:
                user.groups.add(Group.objects.get(name=group))
            users[username] = user
        for receipt, phone, amount, reference, name in DEMO_PAYMENTS:
            Payment.objects.get_or_create(
                receipt=receipt,
                defaults=dict(source=PaymentSource.C2B, status=PaymentStatus.COMPLETED, phone=phone,
                              amount=Decimal(amount), account_reference=reference, payer_name=name),
            )  # fmt: skip
        if not Recipient.objects.filter(external_reference__startswith=MARKER).exists():
            plan = self._recipients_and_plan(users)
            self.stdout.write(f"Saved recipients, and the payout plan {plan.name!r}: {plan_words(plan)}.")
        if Payout.objects.filter(recipient_reference__startswith=MARKER).exists():
            self.stdout.write("The demo fortnight is already there.")
        else:
            counts = self._fortnight(users, random.Random(seed), float_now)
            self.stdout.write("Demo fortnight: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
        self.stdout.write(f"Demo logins (password for each: {password}):")
        for username, group, superuser in DEMO_USERS:
            role = group or ("superuser" if superuser else "staff")
            self.stdout.write(f"  {username:<10} {role}")
        self.stdout.write("Sample statement to reconcile: docs/demo/ORG_600992_Statement_demo.csv")

    @transaction.atomic
    def _recipients_and_plan(self, users):
        """Saved recipients (two trainers paid weekly, a supplier's paybill), each approved by another person,
        and the weekly plan that pays the trainers, approved: the overview's next runs show it, and
        `run_payout_plans` makes its batch when a Monday 09:00 has passed since."""
        requester, approver = users["requester"], users["approver"]
        saved = []
        for reference, name, rail, payee, category in DEMO_RECIPIENTS:
            recipient = recipient_create(created_by=requester, name=name, rail=rail, external_reference=reference,
                                         category=category, source=EventSource.ADMIN, **payee)
            recipient_approve(recipient_id=recipient.pk, approved_by=approver, source=EventSource.ADMIN)
            saved.append(recipient)
        trainers = [(r, amount) for r, amount in zip(saved, ("2500", "1800"), strict=False) if r.category == "trainer"]
        plan = plan_create(created_by=requester, source=EventSource.ADMIN, name="Trainers weekly",
                           frequency=PlanFrequency.WEEKLY, weekday=0, time_of_day="09:00",
                           lines=[{"recipient": r.pk, "amount": amount} for r, amount in trainers])
        return plan_approve(plan_id=plan.pk, approved_by=approver, source=EventSource.ADMIN)

    # --- the fortnight -----------------------------------------------------------------------------------

    @transaction.atomic
    def _fortnight(self, users, rng: random.Random, float_now: Decimal) -> dict[str, int]:
        requester, approver, approver2 = users["requester"], users["approver"], users["approver2"]
        now = timezone.now()
        counts: dict[str, int] = {}
        serial = [0]
        # (when, signed amount) of every move of the B2C float, to draw readings the ledger will agree with.
        float_moves: list[tuple[datetime, Decimal]] = []

        def history(
            *, status, kind=PayoutKind.DISBURSEMENT, at, amount, name, phone, payment=None, batch=None,
            result_code="", review_reason="", receipt=None, mpesa_at=None, quick=False,
        ) -> Payout:  # fmt: skip
            serial[0] += 1
            approved = status != PayoutStatus.PENDING_APPROVAL
            sent_at = at + timedelta(minutes=1 if quick else rng.randint(5, 90))
            done_at = sent_at + timedelta(seconds=rng.randint(2, 40))
            if mpesa_at is not None:
                # M-Pesa paid it at a known moment: sent before it, and its result came after it.
                sent_at = min(sent_at, mpesa_at - timedelta(seconds=5))
                done_at = mpesa_at + timedelta(seconds=rng.randint(2, 40))
            # A history that would end after now is moved back whole: nothing happens in the future.
            late = done_at - (now - timedelta(seconds=5))
            if late > timedelta(0):
                at, sent_at, done_at = at - late, sent_at - late, done_at - late
            final = status in (PayoutStatus.COMPLETED, PayoutStatus.FAILED)
            changed = done_at if final or status == PayoutStatus.NEEDS_REVIEW else sent_at
            info = payout_services_result(result_code)
            payout = Payout.objects.create(
                kind=kind,
                status=status,
                payment=payment,
                batch=batch,
                recipient_name=name,
                recipient_type="customer" if kind == PayoutKind.REFUND else "trainer",
                recipient_reference=f"{MARKER}{serial[0]:04d}",
                phone=phone,
                amount=amount,
                command_id=CommandID.BUSINESS_PAYMENT,
                remarks="Refund" if kind == PayoutKind.REFUND else "Trainer fee",
                reason="Customer returned the item" if kind == PayoutKind.REFUND else "",
                requested_by=requester,
                created_at=at,
                status_changed_at=changed,
                approved_at=sent_at - timedelta(minutes=1) if approved else None,
                submitted_at=sent_at if status not in (PayoutStatus.PENDING_APPROVAL, PayoutStatus.FAILED) else None,
                completed_at=done_at if status == PayoutStatus.COMPLETED else None,
                mpesa_completed_at=mpesa_at or (done_at if status == PayoutStatus.COMPLETED else None),
                transaction_id=receipt or (_receipt(rng) if status == PayoutStatus.COMPLETED else None),
                receiver_name=f"{phone} - {name.upper()}" if status == PayoutStatus.COMPLETED else "",
                result_code="0" if status == PayoutStatus.COMPLETED else result_code,
                result_description=info,
                review_reason=review_reason,
                send_attempts=1 if approved else 0,
                required_approvals=2 if amount >= settings.PAYOUT_DUAL_APPROVAL_THRESHOLD else 1,
            )
            events = [AuditEvent(payout=payout, action=AuditAction.REQUESTED, to_status=PayoutStatus.PENDING_APPROVAL,
                                  actor=requester, source=EventSource.ADMIN, created_at=at)]  # fmt: skip
            if approved:
                approvers = [approver] if payout.required_approvals == 1 else [approver, approver2]
                for person in approvers:
                    PayoutApproval.objects.create(payout=payout, approver=person, requested_by=requester,
                                                  amount=amount, phone=phone, command_id=payout.command_id,
                                                  created_at=payout.approved_at)  # fmt: skip
                events.append(AuditEvent(payout=payout, action=AuditAction.APPROVED,
                                          from_status=PayoutStatus.PENDING_APPROVAL, to_status=PayoutStatus.APPROVED,
                                          actor=approvers[-1], source=EventSource.ADMIN,
                                          created_at=payout.approved_at))  # fmt: skip
                events.append(AuditEvent(payout=payout, action=AuditAction.SENDING, from_status=PayoutStatus.APPROVED,
                                          to_status=PayoutStatus.SENDING, source=EventSource.TASK,
                                          created_at=sent_at))  # fmt: skip
                if status != PayoutStatus.SENDING:
                    events.append(AuditEvent(payout=payout, action=_LAST_ACTION[status],
                                              from_status=PayoutStatus.SENDING, to_status=status,
                                              source=EventSource.CALLBACK,
                                              details={"result_code": payout.result_code} if final else {},
                                              created_at=changed))  # fmt: skip
            AuditEvent.objects.bulk_create(events)
            counts[status] = counts.get(status, 0) + 1
            if status in UNSETTLED_STATUSES or status == PayoutStatus.COMPLETED:
                # Where ledger_backfill will take it from the float (ledger/services/backfill.py).
                taken = payout.completed_at or payout.submitted_at or payout.approved_at or payout.created_at
                float_moves.append((taken, -amount))
            return payout

        # Fourteen days of trainer fees and refunds: mostly completed, some failed with different codes.
        for days_ago in range(13, -1, -1):
            day = (now - timedelta(days=days_ago)).astimezone(NAIROBI).replace(hour=8, minute=0, second=0)
            for _ in range(rng.randint(4, 8)):
                at = day + timedelta(minutes=rng.randint(0, 600))
                if at > now - timedelta(minutes=5):
                    continue
                name, phone = rng.choice(NAMES)
                amount = Decimal(rng.choice([500, 800, 1200, 1500, 2500, 3200, 4500, 6000, 12000]))
                failed = rng.random() < 0.12
                history(
                    status=PayoutStatus.FAILED if failed else PayoutStatus.COMPLETED,
                    at=at, amount=amount, name=name, phone=phone,
                    result_code=rng.choice(FAILURES) if failed else "",
                )  # fmt: skip
            # A refund of a payment made that day, most days.
            if rng.random() < 0.7:
                name, phone = rng.choice(NAMES)
                paid = Decimal(rng.choice([1500, 2300, 4000, 5200]))
                at = day + timedelta(hours=rng.randint(1, 9))
                if at > now - timedelta(minutes=5):
                    continue
                payment = Payment.objects.create(
                    source=PaymentSource.C2B, status=PaymentStatus.COMPLETED, receipt=_payment_receipt(rng),
                    phone=phone, amount=paid, account_reference=f"ORDER-{2000 + days_ago}", payer_name=name,
                    transaction_time=at - timedelta(hours=1), created_at=at - timedelta(hours=1),
                )  # fmt: skip
                refund = Decimal(500)
                reserve_refund(payment, refund)
                history(status=PayoutStatus.COMPLETED, kind=PayoutKind.REFUND, payment=payment, at=at,
                        amount=refund, name=name, phone=phone)  # fmt: skip

        # Today (whatever the hour): a few paid, failures with different codes, and the open states a person
        # must look at.
        today = now.astimezone(NAIROBI)
        since_midnight = (now - today.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 60
        for n in range(4):
            name, phone = NAMES[n]
            at = now - timedelta(minutes=min(max(since_midnight - 3, 0), 60) * (n + 1) / 5 + 2)
            history(status=PayoutStatus.COMPLETED, at=at, amount=Decimal(1200 + 300 * n), name=name, phone=phone,
                    quick=True)  # fmt: skip
        for code in ("1", "2001"):
            name, phone = rng.choice(NAMES)
            history(status=PayoutStatus.FAILED, at=now - timedelta(minutes=3), amount=Decimal(1500), name=name,
                    phone=phone, result_code=code, quick=True)  # fmt: skip
        name, phone = NAMES[6]
        history(status=PayoutStatus.VERIFYING, at=now - timedelta(minutes=40), amount=Decimal(2200), name=name,
                phone=phone)  # fmt: skip
        name, phone = NAMES[7]
        history(status=PayoutStatus.NEEDS_REVIEW, at=now - timedelta(days=1, hours=3), amount=Decimal(3000), name=name,
                phone=phone, receipt=_receipt(rng),
                review_reason="The result's amount (KES 3,300.00) disagrees with the payout (KES 3,000.00).",
                )  # fmt: skip
        name, phone = NAMES[8]
        history(status=PayoutStatus.SUBMITTED, at=now - timedelta(minutes=3), amount=Decimal(900), name=name,
                phone=phone)  # fmt: skip

        # A batch: March trainer fees, three paid, one failed, two waiting for approval (through the services).
        batch = PayoutBatch.objects.create(name="Trainer fees, this fortnight", uploaded_by=requester,
                                           file_name="trainer-fees.csv",
                                           created_at=now - timedelta(days=2))  # fmt: skip
        for i, (name, phone) in enumerate(NAMES[:4]):
            history(status=PayoutStatus.FAILED if i == 3 else PayoutStatus.COMPLETED, at=now - timedelta(days=2),
                    amount=Decimal(2000 + 250 * i), name=name, phone=phone, batch=batch,
                    result_code="2040" if i == 3 else "")  # fmt: skip
        for name, phone in NAMES[4:6]:
            payout_services.payout_request_disbursement(
                requested_by=requester, phone=phone, amount=Decimal(1800), remarks="Trainer fee", batch=batch,
                recipient_name=name, recipient_reference=f"{MARKER}B{phone[-3:]}", source=EventSource.ADMIN,
            )  # fmt: skip
            counts["pending_approval"] = counts.get("pending_approval", 0) + 1

        # Waiting for approval: a disbursement, one that needs two approvers, and a refund (through the services).
        payout_services.payout_request_disbursement(
            requested_by=requester, phone="254757000109", amount=Decimal(2500), remarks="Trainer fee",
            recipient_name="Odhiambo Ouma", recipient_reference=f"{MARKER}P001", source=EventSource.ADMIN,
        )  # fmt: skip
        payout_services.payout_request_disbursement(
            requested_by=requester, phone="254790000110", amount=Decimal(15000), remarks="Quarterly bonus",
            recipient_name="Chebet Koech", recipient_reference=f"{MARKER}P002", source=EventSource.ADMIN,
        )  # fmt: skip
        payment = Payment.objects.get(receipt="SIM0000002")
        if payment.refundable_amount >= Decimal(1000):
            payout_services.payment_refund(payment_id=payment.pk, requested_by=requester, amount=Decimal(1000),
                                           reason="Customer returned one of the items",
                                           source=EventSource.ADMIN)  # fmt: skip
        counts["pending_approval"] = counts.get("pending_approval", 0) + 3

        # The payouts of the sample statement (a week of November 2026, matched by receipt).
        for receipt, moment, amount, name, phone in STATEMENT_PAYOUTS:
            at = datetime.fromisoformat(moment).replace(tzinfo=NAIROBI)
            history(status=PayoutStatus.COMPLETED, at=at - timedelta(minutes=30), amount=Decimal(amount), name=name,
                    phone=phone, receipt=receipt, mpesa_at=at)  # fmt: skip

        self._books(requester=requester, approver=approver, now=now, float_now=float_now, float_moves=float_moves)

        # A callback from an address outside the allow-list, refused today.
        DarajaCallback.objects.create(
            kind=CallbackKind.B2C_RESULT, outcome=CallbackOutcome.REJECTED, raw_body="{}", source_ip="203.0.113.9",
            path="/callbacks/b2c/result/…/", http_status=403, error="source address not allowed",
            received_at=today.astimezone(UTC) - timedelta(minutes=20),
        )  # fmt: skip
        return counts

    def _books(self, *, requester, approver, now: datetime, float_now: Decimal, float_moves: list) -> None:
        """The float's opening balance and the statement's charges and transfer, through the ledger's own
        four-eyes services (requested or proposed, then approved by another person: this is demo data), and a
        float reading every six hours for 30 days, each what the ledger holds at that moment."""
        for _, moment, _, _, _ in STATEMENT_PAYOUTS:
            float_moves.append((datetime.fromisoformat(moment).replace(tzinfo=NAIROBI), -STATEMENT_CHARGE))
        receipt, moment, transfer, details = STATEMENT_TRANSFER
        transfer_at = datetime.fromisoformat(moment).replace(tzinfo=NAIROBI)
        float_moves.append((transfer_at, transfer))
        items = [
            ledger_statement.StatementPosting(
                f"CHG{n:07d}", "charge", -STATEMENT_CHARGE,
                datetime.fromisoformat(moment).replace(tzinfo=NAIROBI), "Business Payment to Customer Charge",
            )
            for n, (_, moment, _, _, _) in enumerate(STATEMENT_PAYOUTS, start=1)
        ] + [ledger_statement.StatementPosting(receipt, "funding", transfer, transfer_at, details)]  # fmt: skip
        ledger_statement.statement_postings_propose(items=items, proposed_by=requester)
        for proposal in StatementProposal.objects.filter(proposed_by=requester):
            ledger_statement.statement_proposal_accept(proposal_id=proposal.pk, user=approver)

        opens = min(datetime.fromisoformat(STATEMENT_OPENS).replace(tzinfo=NAIROBI), now - timedelta(days=31))
        opening = float_now - sum((amount for _, amount in float_moves), Decimal("0"))
        request = ledger_money.funding_request_create(
            requested_by=requester,
            kind=FundingKind.OPENING_BALANCE,
            amount=opening,
            effective_at=opens,
            note="The B2C float before the demo's history (demo data).",
        )
        ledger_money.funding_request_approve(request_id=request.pk, user=approver)

        float_moves.sort(key=lambda move: move[0])
        readings, balance, moved = [], opening, 0
        start = now - timedelta(days=30)
        moments = [start + timedelta(hours=6 * step) for step in range(30 * 4 + 1)]
        for at in [moment for moment in moments if moment < now] + [now]:
            while moved < len(float_moves) and float_moves[moved][0] <= at:
                balance += float_moves[moved][1]
                moved += 1
            readings.append(FloatBalance(utility_available=balance, working_available=Decimal(5000),
                                         source=FloatSource.BALANCE_QUERY, observed_at=at))  # fmt: skip
        FloatBalance.objects.bulk_create(readings)


def payout_services_result(code: str) -> str:
    from daraja import result_codes

    if code in ("", "0"):
        return "The service request is processed successfully." if code == "0" else ""
    return result_codes.lookup(code).meaning
