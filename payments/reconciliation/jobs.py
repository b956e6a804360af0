"""Finance in the console: an export or a statement reconciliation asked for by a person and run by a worker.

Asking writes the FinanceJob and an audit event (`ledger_export_requested` / `statement_reconcile_requested`,
naming who asked for what) in one transaction, and queues the job after commit. The worker runs exactly the
code of the `export_reconciliation` and `reconcile_statement` commands (payments.reconciliation), reports its
progress through the cache (the export runs inside one database transaction, which the page could not see
into), and records the outcome, the file and, for a reconciliation, the summary and discrepancies.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import asdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, PayoutError
from mpesa_payouts.celery import publish_now
from mpesa_payouts.effects import after_commit
from payments.audit_events import event_record
from payments.models import AuditAction, EventSource, FinanceJob, FinanceJobKind, FinanceJobStatus
from payments.reconciliation.export import FORMATS, KINDS, export
from payments.reconciliation.matching import LINE_KINDS, Kind, reconcile, write_report
from payments.reconciliation.progress import Progress
from payments.reconciliation.statement import Statement, StatementError, statement_upload_check
from payments.selectors import report_date_problem
from payments.tasks import run_finance_job as run_finance_job_task

logger = logging.getLogger(__name__)

# The page lists this many discrepancies; the report file holds every one.
SHOWN_DISCREPANCIES = 500
EXPORT_MAX_DAYS = 366
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class FinanceJobError(ApplicationError):
    """A request the console refuses (bad dates, a file it cannot take); nothing was written."""


def files_dir() -> Path:
    return Path(settings.CONSOLE_FILES_DIR)


def job_path(relative: str) -> Path:
    return files_dir() / relative


def _queue(job: FinanceJob) -> None:
    def send() -> None:
        try:
            publish_now(run_finance_job_task, job.pk)
        except Exception:  # noqa: BLE001 - the job stays queued and says so; nothing is lost
            logger.warning("finance job %s could not be queued (broker unreachable)", job.pk)

    after_commit(send)


def finance_export_request(*, requested_by, kind: str, start: date, end: date, fmt: str) -> FinanceJob:
    if kind not in KINDS:
        raise FinanceJobError(f"Unknown kind {kind!r}: choose payouts or payments.")
    if fmt not in FORMATS:
        raise FinanceJobError(f"Unknown format {fmt!r}: choose csv, json or xlsx.")
    for day in (start, end):
        if problem := report_date_problem(day):  # the command's and the API's own bound
            raise FinanceJobError(problem)
    if end < start:
        raise FinanceJobError("The last day is before the first.")
    if (end - start).days >= EXPORT_MAX_DAYS:
        raise FinanceJobError(f"Export at most {EXPORT_MAX_DAYS} days at a time.")
    params = {"kind": kind, "start": start.isoformat(), "end": end.isoformat(), "format": fmt}
    with transaction.atomic():
        job = FinanceJob.objects.create(
            kind=FinanceJobKind.EXPORT,
            requested_by=requested_by,
            params=params,
            output_name=f"{kind}-{start:%Y%m%d}-{end:%Y%m%d}.{fmt}",
        )
        event_record(
            action=AuditAction.LEDGER_EXPORT_REQUESTED, source=EventSource.ADMIN, actor=requested_by,
            details={"job": job.pk, **params},
        )  # fmt: skip
        _queue(job)
    return job


def finance_reconcile_request(*, requested_by, upload) -> FinanceJob:
    """`upload` is an uploaded file (Django's UploadedFile). Stored first, then matched by the worker."""
    limit = settings.CONSOLE_STATEMENT_MAX_MB * 1024 * 1024
    if upload.size > limit:
        raise FinanceJobError(f"The file is larger than {settings.CONSOLE_STATEMENT_MAX_MB} MB.")
    if upload.size == 0:
        raise FinanceJobError("The file is empty.")
    name = _SAFE_NAME.sub("_", Path(upload.name or "statement").name)[-120:] or "statement"
    with transaction.atomic():
        job = FinanceJob.objects.create(
            kind=FinanceJobKind.RECONCILE,
            requested_by=requested_by,
            params={"file_name": upload.name, "size": upload.size},
            output_name=f"{Path(name).stem}.reconciliation.csv",
        )
        relative = f"statements/{job.pk}-{name}"
        target = job_path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        try:
            # Refused now if it cannot be a statement, without inflating an XLSX here: the worker reads it.
            statement_upload_check(target)
        except StatementError as exc:
            target.unlink(missing_ok=True)
            raise FinanceJobError(f"{upload.name}: {exc}") from None
        job.input_file = relative
        job.save(update_fields=["input_file"])
        event_record(
            action=AuditAction.STATEMENT_RECONCILE_REQUESTED, source=EventSource.ADMIN, actor=requested_by,
            details={"job": job.pk, "file_name": upload.name, "size": upload.size},
        )  # fmt: skip
        _queue(job)
    return job


# --- Progress ---------------------------------------------------------------------------------------


def _progress_key(job_id: int) -> str:
    return f"finance-job-progress:{job_id}"


class JobProgress(Progress):
    """A Progress that reports to the page (through the cache, at most twice a second) instead of a
    terminal."""

    def __init__(self, job_id: int, total: int | None = None) -> None:
        super().__init__(None, "job", total=total)
        self.job_id = job_id

    @property
    def enabled(self) -> bool:
        return True

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if now - self._drawn >= 0.5:
            self._drawn = now
            self._publish()

    def close(self) -> None:
        self._publish()

    def _publish(self) -> None:
        # `at`: the worker's heartbeat, which beat's sweep reads before it takes a long job for a dead one.
        progress = {"done": self.count, "total": self.total, "at": time.time()}
        try:
            cache.set(_progress_key(self.job_id), progress, timeout=24 * 3600)
        except Exception:  # noqa: BLE001 - the cache (Redis) is down: the job goes on, its page shows less
            logger.warning("cache unavailable; progress of finance job %s not published", self.job_id)


def _live_progress(job_id: int) -> dict | None:
    """What the worker last published about the job; None when the cache (Redis) cannot be read."""
    try:
        return cache.get(_progress_key(job_id)) or {}
    except Exception:  # noqa: BLE001 - a page must open without the cache: the database has the job's status
        logger.warning("cache unavailable; finance job %s shown without its live progress", job_id)
        return None


def job_progress(job: FinanceJob) -> dict:
    """What the page shows: status, rows done of total (when known), and whether to keep polling."""
    live = _live_progress(job.pk) or {}
    done, total = live.get("done", 0), live.get("total")
    if job.status == FinanceJobStatus.DONE:
        done = job.rows if job.rows is not None else done
        total = total or done
    percent = None
    if total:
        percent = 100 if job.status == FinanceJobStatus.DONE else min(99, int(100 * done / total))
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "done": done,
        "total": total,
        "percent": percent,
        "finished": job.status in (FinanceJobStatus.DONE, FinanceJobStatus.FAILED),
    }


# --- Running (the worker) ------------------------------------------------------------------------------


def _claim(job_id: int) -> FinanceJob | None:
    claimed = FinanceJob.objects.filter(pk=job_id, status=FinanceJobStatus.QUEUED).update(
        status=FinanceJobStatus.RUNNING, started_at=timezone.now()
    )
    return FinanceJob.objects.get(pk=job_id) if claimed else None


class JobRunOutcome(StrEnum):
    """What one `finance_job_run` did (a StrEnum: the task returns the same strings as before)."""

    NOT_QUEUED = "not queued"  # claimed already (a redelivered task), or not waiting
    DONE = "done"
    FAILED = "failed"  # the statement or the file could not be read; the job says why


def finance_job_run(*, job_id: int) -> JobRunOutcome:
    """Run a queued job once (a redelivered task finds it claimed and does nothing)."""
    job = _claim(job_id)
    if job is None:
        return JobRunOutcome.NOT_QUEUED
    try:
        if job.kind == FinanceJobKind.EXPORT:
            _run_export(job)
        else:
            _run_reconcile(job)
    except (StatementError, OSError) as exc:
        _finish(job, status=FinanceJobStatus.FAILED, error=str(exc))
        return JobRunOutcome.FAILED
    except Exception:
        logger.exception("finance job %s failed", job.pk)
        _finish(
            job, status=FinanceJobStatus.FAILED, error="The job stopped on an unexpected error (see the worker log)."
        )
        raise
    return JobRunOutcome.DONE


# --- Jobs that lost their way (beat) -------------------------------------------------------------------

# A job still `queued` this long after it was asked for was not queued (the broker was down) or its message was
# lost; each sweep queues it again, as sweep_payouts does an approved payout's send. Queuing twice is harmless:
# the worker claims a job by a conditional update, and a copy that finds it claimed does nothing.
REQUEUE_AFTER = timedelta(minutes=1)
_SWEEP_BATCH = 100


def finance_jobs_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: queue again the jobs no worker took, and fail the jobs whose worker died (`running`, and no word
    from the worker, started or progress, for FINANCE_JOB_TIMEOUT_MINUTES) with a message to ask again. A job
    that was only silent and finishes after that still records its result: the finish overwrites the failure."""
    now = now or timezone.now()
    requeued = 0
    waiting = FinanceJob.objects.filter(status=FinanceJobStatus.QUEUED, created_at__lt=now - REQUEUE_AFTER)
    for job_id in waiting.order_by("created_at", "id").values_list("pk", flat=True)[:_SWEEP_BATCH]:
        try:
            publish_now(run_finance_job_task, job_id)
        except Exception:  # noqa: BLE001 - still down: the next sweep tries again
            logger.warning("finance job %s could not be queued again (broker unreachable)", job_id)
            break
        requeued += 1
    minutes = settings.FINANCE_JOB_TIMEOUT_MINUTES
    silent_since = now - timedelta(minutes=minutes)
    stopped = 0
    for job_id in FinanceJob.objects.filter(status=FinanceJobStatus.RUNNING, started_at__lt=silent_since).values_list(
        "pk", flat=True
    )[:_SWEEP_BATCH]:
        live = _live_progress(job_id)
        if live is None:
            continue  # without the cache its heartbeat is unknown: never fail a job that may still be running
        if live.get("at", 0) >= silent_since.timestamp():
            continue  # long, but its worker is still reporting progress
        stopped += FinanceJob.objects.filter(pk=job_id, status=FinanceJobStatus.RUNNING).update(
            status=FinanceJobStatus.FAILED,
            finished_at=now,
            error=f"No word from its worker for {minutes} minutes: it stopped before the job finished. "
            f"Ask for it again.",
        )
    if requeued or stopped:
        logger.info("finance jobs sweep: %d queued again, %d marked failed", requeued, stopped)
    return {"requeued": requeued, "stopped": stopped}


def _finish(job: FinanceJob, **fields) -> None:
    fields["finished_at"] = timezone.now()
    FinanceJob.objects.filter(pk=job.pk).update(**fields)


def _run_export(job: FinanceJob) -> None:
    params = job.params
    start, end, fmt = date.fromisoformat(params["start"]), date.fromisoformat(params["end"]), params["format"]
    relative = f"exports/{job.pk}-{job.output_name}"
    target = job_path(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    progress = JobProgress(job.pk)
    try:
        if fmt == "xlsx":
            with partial.open("wb") as out:
                count = export(kind=params["kind"], start=start, end=end, fmt=fmt, out=out, progress=progress)
        else:
            with partial.open("w", newline="", encoding="utf-8") as out:
                count = export(kind=params["kind"], start=start, end=end, fmt=fmt, out=out, progress=progress)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _finish(job, status=FinanceJobStatus.DONE, output_file=relative, rows=count)


def _estimate_rows(path: Path, statement: Statement) -> int | None:
    if statement.is_xlsx:
        return None
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _run_reconcile(job: FinanceJob) -> None:
    source = job_path(job.input_file)
    statement = Statement(source)
    progress = JobProgress(job.pk, total=_estimate_rows(source, statement))
    result = reconcile(statement, progress=progress, proposed_by=job.requested_by, job_id=job.pk)
    relative = f"reports/{job.pk}-{job.output_name}"
    target = job_path(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as out:
        write_report(result, out)
    counts = result.counts()
    summary = {
        "rows": result.rows,
        "matched": result.matched,
        "ours_in_period": result.ours_in_period,
        "period_start": result.period_start.isoformat() if result.period_start else None,
        "period_end": result.period_end.isoformat() if result.period_end else None,
        "period_from": result.period_from,
        "covers": list(result.covers),
        "skipped": dict(result.skipped),
        "ok": result.ok,
        # What the statement proposes for the ledger: nothing is posted until another person accepts it.
        "proposed": {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(result.ledger_proposed).items()},
        "lines": [
            {"kind": kind, "label": label, "count": result.lines[kind], "amount": str(result.line_amounts[kind])}
            for kind, label in LINE_KINDS.items()
            if result.lines[kind]
        ],
        "opening_balance": _text(result.opening_balance),
        "movements": str(result.movements),
        "expected_closing": _text(result.expected_closing),
        "closing_balance": _text(result.closing_balance),
        "balance_agrees": result.balance_agrees,
        "discrepancy_count": len(result.discrepancies),
        "counts": {kind: counts.get(kind, 0) for kind in Kind.ALL},
        "discrepancies": [
            {k: (str(v) if v is not None and not isinstance(v, int | str) else v) for k, v in asdict(d).items()}
            for d in result.discrepancies[:SHOWN_DISCREPANCIES]
        ],
    }
    _finish(job, status=FinanceJobStatus.DONE, output_file=relative, rows=result.rows, summary=summary)


# --- Resolving a statement's discrepancy ------------------------------------------------------------


RECONCILE_PERMISSION = "payments.reconcile_statement"
RESOLUTION_NOTE_MAX = 500


def statement_discrepancy_resolve(*, job_id: int, index: int, note: str, resolved_by, source: str) -> dict:
    """Mark one of a reconciliation's discrepancies resolved, with what was found (a note is required: a
    resolution nobody can read back explains nothing). Moves no money: a correction is its own payout,
    refund or funding request, decided as those are. Audited; a second resolution of the same one is refused."""
    from core.errors import InvalidState, NotFound, PermissionDenied

    if not resolved_by.has_perm(RECONCILE_PERMISSION):
        raise PermissionDenied("Only those who may reconcile statements can resolve a discrepancy.")
    note = (note or "").strip()
    if not note:
        raise PayoutError("Say what you found: a resolution needs a note.")
    if len(note) > RESOLUTION_NOTE_MAX:
        raise PayoutError(f"The note is longer than {RESOLUTION_NOTE_MAX} characters.")
    with transaction.atomic():
        job = FinanceJob.objects.select_for_update().filter(pk=job_id, kind=FinanceJobKind.RECONCILE).first()
        if job is None or job.status != FinanceJobStatus.DONE:
            raise NotFound(f"No finished reconciliation #{job_id}.")
        discrepancies = (job.summary or {}).get("discrepancies", [])
        if not 0 <= index < len(discrepancies):
            raise NotFound(f"Reconciliation #{job_id} has no discrepancy {index + 1}.")
        discrepancy = discrepancies[index]
        if discrepancy.get("resolved"):
            raise InvalidState(f"{discrepancy['receipt']} was resolved already by {discrepancy['resolved']['by']}.")
        discrepancy["resolved"] = {"note": note, "by": resolved_by.get_username(), "at": timezone.now().isoformat()}
        job.save(update_fields=["summary"])
        event_record(
            action=AuditAction.STATEMENT_DISCREPANCY_RESOLVED, source=source, actor=resolved_by,
            details={"job": job.pk, "receipt": discrepancy["receipt"], "kind": discrepancy["kind"], "note": note},
        )  # fmt: skip
    return discrepancy
