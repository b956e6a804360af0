"""A payout plan's occurrences become batches, each exactly once.

`plans_run_due(now=)` (the `run_payout_plans` command and the beat task) creates, for every active plan, the
latest occurrence whose moment is at or before `now` that has no run yet, and only that one: after an outage
it does not backfill the occurrences it missed (the most recent one stands for them), and it never creates an
occurrence before the plan's `runs_from` (its approval, or its last resume) or after its end date.

`plan_run_create` writes the PayoutPlanRun row first, then the batch and its payouts, in one transaction: the
UNIQUE (plan, scheduled_for) makes a second creator (another beat process, a restart) fail on that row and
roll back with nothing written, so an occurrence never has two batches nor half of one.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.field_widths import truncate_to
from payments.audit_events import event_record
from payments.models import (
    AuditAction,
    EventSource,
    Payout,
    PayoutBatch,
    PayoutPlan,
    PayoutPlanRun,
    PayoutPlanStatus,
)
from payments.plans.schedule import Schedule, latest_occurrence, moment
from payments.recipients.paying import recipient_payout_request, unpayable_reason

logger = logging.getLogger("payments")


def plan_due_occurrence(plan: PayoutPlan, now: datetime) -> date | None:
    """The occurrence of an active plan that is due at `now` and has no run yet, or None."""
    if plan.status != PayoutPlanStatus.ACTIVE or plan.runs_from is None:
        return None
    day = latest_occurrence(Schedule.of(plan), now)
    if plan.end_date is not None and day > plan.end_date:
        return None
    if moment(day, plan.time_of_day) < plan.runs_from:
        return None
    if PayoutPlanRun.objects.filter(plan=plan, scheduled_for=day).exists():
        return None
    return day


def batch_name(plan: PayoutPlan, day: date) -> str:
    return truncate_to(PayoutBatch, "name", f"{plan.name} — {day.isoformat()}")


def plan_run_create(*, plan_id: int, scheduled_for: date, source: str = EventSource.TASK) -> PayoutPlanRun | None:
    """The occurrence's run and batch, from the plan as approved now; None when another creator made it first
    (or the plan is no longer active). A recipient that cannot be paid now (archived, new payment details
    waiting for approval, a limit) is skipped with why, on the run and on the batch's refused rows."""
    try:
        with transaction.atomic():
            plan = PayoutPlan.objects.select_for_update().get(pk=plan_id)
            if plan.status != PayoutPlanStatus.ACTIVE:
                return None
            run = PayoutPlanRun.objects.create(plan=plan, scheduled_for=scheduled_for)
            lines = list(plan.lines.select_related("recipient"))
            for position, line in enumerate(lines, start=1):
                line.position = position  # the line of the plan, as a CSV batch's refused row names its line
            skipped, payable = [], []
            for line in lines:
                why_not = unpayable_reason(line.recipient)
                if why_not:
                    skipped.append(_skip(line, why_not))
                else:
                    payable.append(line)
            if payable:
                run.batch = PayoutBatch.objects.create(
                    name=batch_name(plan, scheduled_for), uploaded_by=plan.created_by,
                    file_name=f"Payout plan #{plan.pk}", refused_rows=[_refused_row(s) for s in skipped])
                run.save(update_fields=["batch"])  # before the payouts: the approvers' alert names the run
            for line in payable:
                try:
                    # A savepoint each: a line refused here (a daily limit) leaves the others standing.
                    with transaction.atomic():
                        recipient_payout_request(
                            recipient_id=line.recipient_id, requested_by=plan.created_by, amount=line.amount,
                            remarks=truncate_to(Payout, "remarks", f"Plan: {plan.name}"),
                            occasion=scheduled_for.isoformat(), batch=run.batch, source=source)
                except ApplicationError as error:
                    skipped.append(_skip(line, error.message))
            if run.batch is not None and len(skipped) != len(run.batch.refused_rows):
                run.batch.refused_rows = [_refused_row(s) for s in skipped]
                run.batch.save(update_fields=["refused_rows"])
            if run.batch is not None and not run.batch.payouts.exists():
                # Every line was refused at request time: keep the run, not an empty batch.
                batch, run.batch = run.batch, None
                run.skipped = skipped
                run.save()
                batch.delete()
            else:
                run.skipped = skipped
                run.save()
            event_record(action=AuditAction.PLAN_RUN_CREATED, source=source, to_status=plan.status,
                         details={"plan": plan.pk, "plan_name": plan.name, "run": run.pk,
                                  "scheduled_for": scheduled_for.isoformat(), "batch": run.batch_id,
                                  "skipped": skipped})
            return run
    except IntegrityError:
        logger.info("payout plan #%s: the run of %s was created by another process", plan_id, scheduled_for)
        return None


def _skip(line, problem: str) -> dict:
    return {"line": line.position, "recipient": line.recipient_id, "name": line.recipient.name,
            "amount": str(line.amount), "problem": problem}


def _refused_row(skip: dict) -> dict:
    """A skipped line in the shape of a CSV upload's refused row (batch.refused_rows): the batch's page and its
    refused-rows file show it as they show an upload's."""
    return {"line": skip["line"], "problem": skip["problem"],
            "cells": {"recipient_id": str(skip["recipient"]), "recipient_name": skip["name"], "amount": skip["amount"]}}


def plans_run_due(*, now: datetime | None = None, source: str = EventSource.TASK) -> list[PayoutPlanRun]:
    """Create every active plan's due occurrence (at most one each). Returns the runs created."""
    now = now or timezone.now()
    created = []
    for plan in PayoutPlan.objects.filter(status=PayoutPlanStatus.ACTIVE).order_by("pk"):
        day = plan_due_occurrence(plan, now)
        if day is None:
            continue
        run = plan_run_create(plan_id=plan.pk, scheduled_for=day, source=source)
        if run is not None:
            created.append(run)
    return created

