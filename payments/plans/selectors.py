"""Reads of payout plans for the API, the console and the overview: words, next and last runs."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone

from payments.models import PayoutPlan, PayoutPlanLine, PayoutPlanRun, PayoutPlanStatus, PayoutStatus
from payments.plans.schedule import Schedule, moment, next_occurrences, schedule_words


def plans_with_lines():
    return PayoutPlan.objects.select_related("created_by", "approved_by", "change_proposed_by").prefetch_related(
        Prefetch("lines", queryset=PayoutPlanLine.objects.select_related("recipient")))


def plan_words(plan: PayoutPlan) -> str:
    return schedule_words(Schedule.of(plan))


def plan_next_runs(plan: PayoutPlan, now: datetime | None = None, count: int = 3) -> list[datetime]:
    """The next occurrences an active plan will create (none for a plan pending approval, paused, rejected, or
    past its end date)."""
    if plan.status != PayoutPlanStatus.ACTIVE:
        return []
    found = next_occurrences(Schedule.of(plan), now or timezone.now(), count)
    if plan.end_date is not None:
        found = [at for at in found if at.date() <= plan.end_date]
    return found


def plan_last_run(plan: PayoutPlan) -> PayoutPlanRun | None:
    return plan.runs.select_related("batch").first()


def upcoming_runs(now: datetime | None = None, limit: int = 5) -> list[tuple[datetime, PayoutPlan]]:
    """The next occurrences of every active plan, soonest first (the overview's list)."""
    now = now or timezone.now()
    found = [(at, plan) for plan in PayoutPlan.objects.filter(status=PayoutPlanStatus.ACTIVE)
             for at in plan_next_runs(plan, now, 1)]
    return sorted(found, key=lambda pair: (pair[0], pair[1].pk))[:limit]


def runs_waiting_for_approval(limit: int = 10) -> list[PayoutPlanRun]:
    """Runs whose batch still has payouts pending approval (the overview links each batch)."""
    return list(PayoutPlanRun.objects.filter(batch__payouts__status=PayoutStatus.PENDING_APPROVAL)
                .select_related("plan", "batch").distinct().order_by("scheduled_for", "pk")[:limit])


def run_moment(run: PayoutPlanRun) -> datetime:
    return moment(run.scheduled_for, run.plan.time_of_day)
