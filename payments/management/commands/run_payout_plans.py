"""Create the payout plans' runs that are due: `manage.py run_payout_plans [--at "YYYY-MM-DD HH:MM"]`.

For each active plan, the latest occurrence at or before now (or the Nairobi time given) that has no run yet
becomes a batch waiting for approval; only the most recent missed occurrence, never a backlog
(docs/payout-plans.md). Beat runs the same service (payments.tasks.run_payout_plans)."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from payments.models import EventSource
from payments.plans.runs import plans_run_due
from payments.plans.schedule import NAIROBI


def parse_at(text: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=NAIROBI)
    except ValueError:
        raise CommandError(f'--at must be "YYYY-MM-DD HH:MM" (Nairobi time), got {text!r}.') from None


class Command(BaseCommand):
    help = "Create the payout plans' runs that are due now (or at --at, Nairobi time)."

    def add_arguments(self, parser):
        parser.add_argument("--at", help='Nairobi time "YYYY-MM-DD HH:MM" to run as of (default: now).')

    def handle(self, *args, **options):
        at = parse_at(options["at"]) if options.get("at") is not None else None
        runs = plans_run_due(now=at, source=EventSource.COMMAND)
        for run in runs:
            payouts = run.batch.payouts.count() if run.batch_id else 0
            where = f"batch #{run.batch_id} \"{run.batch.name}\"" if run.batch_id else "no batch"
            self.stdout.write(f"Plan #{run.plan_id} \"{run.plan.name}\" {run.scheduled_for}: {where}, "
                              f"{payouts} payout(s) waiting for approval, {len(run.skipped)} skipped")
            for skip in run.skipped:
                self.stdout.write(f"  skipped {skip['name']}: {skip['problem']}")
        self.stdout.write(f"{len(runs)} run(s) created.")
