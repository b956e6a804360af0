"""The console's money-in pieces: *Check for missed payments now* (approvers run the Pull at once and see what
it found) and the overview's line on the last Pull (payments/incoming/pull.py, docs/money-in.md)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.console_kit import refused
from core.money import kes
from payments.incoming.pull import last_pull_run, pull_transactions_run
from payments.models import PullFindingKind, PullTrigger
from payments.roles import can_approve


def last_pull_context(request) -> dict:
    """What the overview shows of the Pull: its last run, and the button for approvers."""
    return {
        "last_pull": last_pull_run(),
        "can_check_missed": can_approve(request),
        "check_missed_url": reverse("admin:payments_payment_check_missed"),
    }


@require_POST
def check_missed_payments(request):
    """Run the Pull now, as the person who pressed the button, and say what it found."""
    if not can_approve(request):
        return refused(request, "Only payout approvers can check for missed payments.")
    run = pull_transactions_run(trigger=PullTrigger.CONSOLE, actor=request.user)
    found = run.findings.filter(kind=PullFindingKind.RECOVERED).select_related("payment")
    for finding in found:
        payment = finding.payment
        messages.warning(request, f"Recovered {payment.receipt}: {kes(payment.amount)}, account "
                                  f"{payment.account_reference or '-'} (its confirmation never came).")  # fmt: skip
    since = timezone.localtime(run.window_start)
    summary = (f"Pull checked the window since {since:%Y-%m-%d %H:%M}: {run.rows} payments listed, "
               f"{run.recovered} recovered, {run.disagreements} disagreeing with our record.")  # fmt: skip
    if run.complete:
        messages.success(request, summary)
    else:
        messages.error(request, f"The check did not complete ({run.error}); it will be asked again.")
    return HttpResponseRedirect(reverse("admin:index") + "#money-in")
