"""Demo users and payments for a local run (`make run` calls it). Safe to run again: nothing is duplicated."""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from payments.models import Payment, PaymentSource, PaymentStatus

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


class Command(BaseCommand):
    help = "Creates demo users (a requester, two approvers, an admin) and a few completed demo payments."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="demo-pass-123", help="Password for every demo user.")

    def handle(self, *args, password, **options):
        if settings.MPESA_ENVIRONMENT == "production":
            raise CommandError("seed_demo refuses to run with MPESA_ENVIRONMENT=production.")
        User = get_user_model()
        for username, group, superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
            if created:
                user.set_password(password)
                user.is_superuser = superuser
                user.save()
            if group:
                user.groups.add(Group.objects.get(name=group))
        for receipt, phone, amount, reference, name in DEMO_PAYMENTS:
            Payment.objects.get_or_create(
                receipt=receipt,
                defaults=dict(source=PaymentSource.C2B, status=PaymentStatus.COMPLETED, phone=phone,
                              amount=Decimal(amount), account_reference=reference, payer_name=name),
            )
        self.stdout.write(f"Demo logins (password for each: {password}):")
        for username, group, superuser in DEMO_USERS:
            role = group or ("superuser" if superuser else "staff")
            self.stdout.write(f"  {username:<10} {role}")
