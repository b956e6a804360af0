#!/usr/bin/env python
"""Fill the bench database with N payouts (default 1,000,000), their approvals and the payments refunds
point at, with COPY. Creates the `bench_payouts` database and migrates it first; replaces what was there.

    .venv/bin/python bench/seed_payouts.py [--payouts 1000000]

Columns come from the models, so a field added later is filled with its default.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_database, manage, setup_django, timed  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC) - timedelta(hours=3)  # midnight in Nairobi
SPAN_SECONDS = 90 * 24 * 3600
STATUS_WEIGHTS = {
    "completed": 85,
    "failed": 5,
    "pending_approval": 2,
    "approved": 1,
    "rejected": 1,
    "submitted": 2,
    "verifying": 2,
    "needs_review": 2,
}
APPROVED_STATUSES = {"approved", "submitted", "completed", "failed", "verifying", "needs_review"}
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# Names as a Kenyan payroll has them (the name search's trigram index is measured on these): 60 first names
# by 60 family names, so a full name is on ~280 payouts, a first or family name on ~17,000.
FIRST_NAMES = (
    "Wanjiku Achieng Njeri Atieno Wambui Akinyi Nyambura Chebet Wairimu Adhiambo Muthoni Jepkosgei Kemunto Nafula "
    "Moraa Mumbua Zawadi Halima Amina Faith Grace Mercy Joyce Esther Mary Jane Ann Lucy Rose Ruth John Peter James "
    "Joseph David Daniel Samuel Brian Kevin Dennis Kamau Otieno Mwangi Kiprono Omondi Mutua Njoroge Ochieng Kipchoge "
    "Wafula Barasa Onyango Kariuki Mutiso Juma Hassan Ali Kibet Cheruiyot Maina"
).split()
FAMILY_NAMES = (
    "Kamau Wanjiru Otieno Ochieng Mwangi Njoroge Kariuki Mutua Kiprono Kibet Odhiambo Onyango Wafula Barasa Maina "
    "Githinji Kimani Ndungu Macharia Gitau Korir Rotich Langat Kiptoo Chepkoech Omondi Owino Okoth Were Atieno "
    "Mutiso Musyoka Kioko Nzioka Wambua Njeri Waweru Gichuru Kinyua Muriuki Nyaga Mugo Karanja Kirui Cheruiyot "
    "Sang Bett Koech Mohamed Abdi Hassan Omar Ali Juma Salim Mwakio Mwamburi Kahindi Charo Baya"
).split()


def recipient_name(n: int) -> str:
    first = FIRST_NAMES[n % len(FIRST_NAMES)]
    family = FAMILY_NAMES[(n // len(FIRST_NAMES)) % len(FAMILY_NAMES)]
    return f"{first} {family}"


def receipt(prefix: str, n: int) -> str:
    """A unique 10-character M-Pesa-like receipt (SG632NMUAB)."""
    digits = []
    for _ in range(8):
        n, r = divmod(n, 36)
        digits.append(ALPHABET[r])
    return prefix + "".join(reversed(digits))


def copy_rows(cursor, model, rows, given: list[str]) -> int:
    """COPY rows (dicts of the `given` columns) into the model's table, defaults for every other column."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key or f.attname in given]
    columns = [f.column for f in fields]
    defaults = {f.attname: f.get_default() for f in fields if f.attname not in given}
    count = 0
    table = model._meta.db_table
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[f.attname] if f.attname in row else defaults[f.attname] for f in fields])
            count += 1
    return count


def insert_select(model, given: dict[str, str], tail: str) -> str:
    """INSERT ... SELECT with SQL expressions for `given` columns and literal defaults for every other one."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns, values = [], []
    for f in fields:
        columns.append(f.column)
        if f.attname in given:
            values.append(given[f.attname])
        else:
            default = f.get_default()
            values.append("NULL" if default is None else "'" + str(default).replace("'", "''") + "'")
    return f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} {tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payouts", type=int, default=1_000_000)
    parser.add_argument("--payments", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()

    ensure_database()
    with timed("migrate"):
        manage("migrate", "--noinput", stdout=sys.stderr)
    setup_django()

    from django.contrib.auth import get_user_model
    from django.db import connection

    from payments.models import Payment, Payout, PayoutApproval

    rng = random.Random(args.seed)
    User = get_user_model()
    with connection.cursor() as c:
        c.execute(
            "TRUNCATE payments_auditevent, payments_payoutapproval, payments_darajacallback, payments_payout, "
            "payments_payment RESTART IDENTITY CASCADE"
        )
    requesters = [
        User.objects.get_or_create(username=f"requester{i}", defaults={"is_staff": True})[0] for i in range(5)
    ]
    approvers = [User.objects.get_or_create(username=f"approver{i}", defaults={"is_staff": True})[0] for i in range(5)]
    User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True})

    raw = connection.connection  # the psycopg connection under Django's
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())

    def payments():
        for n in range(1, args.payments + 1):
            created = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
            yield {
                "id": n,
                "source": "c2b" if n % 3 else "stk_push",
                "status": "completed",
                "receipt": receipt("C", n),
                "phone": f"2547{rng.randrange(10**8):08d}",
                "amount": Decimal(rng.randrange(100, 500_000)) / 100 + 1,
                "account_reference": f"ORDER-{n}",
                "transaction_time": created,
                "created_at": created,
                "updated_at": created,
                "checkout_request_id": None,
            }

    def payouts():
        for n in range(1, args.payouts + 1):
            created = START + timedelta(seconds=n * SPAN_SECONDS // args.payouts)
            status = rng.choices(statuses, weights)[0]
            refund = n % 5 == 0 and args.payments
            payment_id = rng.randrange(1, args.payments + 1) if refund else None
            amount = Decimal(rng.randrange(1000, 2_500_000)) / 100
            if payment_id:
                amount = Decimal("10.00")
            approved = status in APPROVED_STATUSES
            submitted = (
                created + timedelta(minutes=2) if status not in ("pending_approval", "approved", "rejected") else None
            )
            done = created + timedelta(minutes=3) if status in ("completed", "failed") else None
            row = {
                "id": n,
                "kind": "refund" if payment_id else "disbursement",
                "status": status,
                "payment_id": payment_id,
                "recipient_name": recipient_name(n),
                "recipient_reference": f"R-{n % 5000}",
                "phone": f"2547{rng.randrange(10**8):08d}",
                "amount": amount,
                "command_id": "BusinessPayment",
                "remarks": "Bench payout",
                "originator_conversation_id": f"PO-bench-{n:012d}",
                "callback_token": f"bench-token-{n:012d}",
                "conversation_id": f"AG_20240101_{n:012d}" if submitted else "",
                "transaction_id": receipt("S", n) if status in ("completed", "needs_review") else None,
                "result_code": {"completed": "0", "failed": "2001"}.get(status, ""),
                "result_description": {
                    "completed": "The service request is processed successfully.",
                    "failed": "The initiator information is invalid.",
                }.get(status, ""),
                "receiver_name": f"RECIPIENT {n % 5000}" if status == "completed" else "",
                "requested_by_id": requesters[n % 5].pk,
                "created_at": created,
                "updated_at": done or created,
                "status_changed_at": done or submitted or created,
                "approved_at": created + timedelta(minutes=1) if approved else None,
                "submitted_at": submitted,
                "completed_at": done,
                "mpesa_completed_at": done - timedelta(seconds=5) if status == "completed" else None,
            }
            yield row

    with raw.cursor() as cur:
        # The rows are consistent by construction: skip the per-row foreign-key triggers while loading.
        cur.execute("SET session_replication_role = replica")
        with timed("copy payments"):
            print(f"payments: {copy_rows(cur, Payment, payments(), ['id'])}")
        with timed("copy payouts"):
            print(f"payouts: {copy_rows(cur, Payout, payouts(), ['id'])}")
    raw.commit()
    with raw.cursor() as cur:
        with timed("insert approvals"):
            # Server-side: one approval per payout that got past approval, two from KES 10,000.
            approver_ids = "ARRAY[" + ", ".join(str(a.pk) for a in approvers) + "]"
            cur.execute(
                insert_select(
                    PayoutApproval,
                    {
                        "payout_id": "p.id",
                        "approver_id": f"({approver_ids})[mod(p.id + k, 5) + 1]",
                        "requested_by_id": "p.requested_by_id",
                        "amount": "p.amount",
                        "phone": "p.phone",
                        "command_id": "p.command_id",
                        "created_at": "p.created_at + make_interval(secs => 30 + k)",
                    },
                    "FROM payments_payout p CROSS JOIN generate_series(0, 1) AS k "
                    "WHERE p.status = ANY(%s) AND (k = 0 OR p.amount >= 10000)",
                ),
                [sorted(APPROVED_STATUSES)],
            )
            print(f"approvals: {cur.rowcount}")
        with timed("refunded amounts"):
            cur.execute(
                "UPDATE payments_payment p SET refunded_amount = LEAST(p.amount, r.total) FROM "
                "(SELECT payment_id, SUM(amount) AS total FROM payments_payout WHERE kind = 'refund' "
                "AND status NOT IN ('failed', 'rejected') GROUP BY payment_id) r WHERE r.payment_id = p.id"
            )
        for table in ("payments_payment", "payments_payout", "payments_payoutapproval"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        cur.execute("SET session_replication_role = DEFAULT")
    raw.commit()
    raw.autocommit = True
    with timed("vacuum analyze"):
        for table in ("payments_payment", "payments_payout", "payments_payoutapproval"):
            raw.execute(f"VACUUM ANALYZE {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
