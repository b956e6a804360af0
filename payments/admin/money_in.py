"""The console's money-in pieces: *Check for missed payments now* (approvers ask the worker for a Pull run at
once; the page answers without waiting for it) and the overview's line on the last Pull and on a check still
running (payments/incoming/pull.py, docs/money-in.md)."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.console_kit import refused
from payments.incoming.pull import last_pull_run, pull_check_request, pull_check_waiting
from payments.roles import can_approve


def _asked_words(check: dict) -> str:
    try:
        at = timezone.localtime(datetime.fromisoformat(check["at"]))
    except (KeyError, TypeError, ValueError):
        return f"asked by {check.get('by', 'someone')}"
    return f"asked by {check.get('by', 'someone')} at {at:%H:%M}"


def last_pull_context(request) -> dict:
    """What the overview shows of the Pull: its last run, a check still running, and the button for approvers."""
    check = pull_check_waiting()
    return {
        "last_pull": last_pull_run(),
        "pull_checking": _asked_words(check) if check else "",
        "can_check_missed": can_approve(request),
        "check_missed_url": reverse("admin:payments_payment_check_missed"),
    }


@require_POST
def check_missed_payments(request):
    """Queue a Pull run, as the person who pressed the button, and answer at once: its result appears on the
    overview. A second press while one is queued or running queues nothing."""
    if not can_approve(request):
        return refused(request, "Only payout approvers can check for missed payments.")
    earlier = pull_check_request(actor=request.user)
    if earlier is None:
        messages.success(request, "Checking for missed payments; the result appears on the overview.")
    else:
        messages.info(request, f"A check for missed payments is already running ({_asked_words(earlier)}); its "
                               "result appears on the overview.")  # fmt: skip
    return HttpResponseRedirect(reverse("admin:index") + "#money-in")
