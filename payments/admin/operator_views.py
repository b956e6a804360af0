"""Operator credential health in the console (docs/operator-health.md): a credential set's page of the payouts
M-Pesa failed because it refused the set's operator, with *Request all again*, and *Reinstate* (a balance
query as a probe). Superusers only, as `/api/operator/...`; behind the admin, so the second factor the admin
asks of superusers (the two-step login, payments/second_factor.py) is asked here too. The services are
payments/payouts/operator_health.py's, which write the audit events; nothing here writes."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone

from core.console_kit import AdminPagesMixin, count_of, kes, refused
from core.errors import ApplicationError
from daraja import result_codes
from payments.admin.payout_words import paid_to
from payments.models import DarajaCredentialSet, EventSource
from payments.payouts.operator_health import (
    operator_refused_payouts,
    operator_reinstate,
    operator_request_all_again,
)
from payments.second_factor import second_factor_required

SUPERUSERS_ONLY = "Only a superuser may read or change the operator credentials' health."


def may_manage_operator(request) -> bool:
    """The API's rule (payments/api/operator.py): an active staff superuser, whose session passed the second
    factor when it is required (the admin's middleware sends one that did not to the two-step login first)."""
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff and user.is_superuser):
        return False
    return not second_factor_required(user) or user.is_verified()


def operator_page_url(set_id: int) -> str:
    return reverse("admin:payments_darajacredentialset_operator", args=(set_id,))


def operator_links(set_id: int) -> dict:
    """The console's ways into a set's operator health: its page (refused payouts, *Request all again*) and
    *Reinstate*."""
    return {
        "page": operator_page_url(set_id),
        "reinstate": reverse("admin:payments_darajacredentialset_operator_reinstate", args=(set_id,)),
        "request_again": reverse("admin:payments_darajacredentialset_operator_request_again", args=(set_id,)),
    }


def refusal_words(code: str) -> str:
    info = result_codes.lookup(code)
    return f"{code}: {info.meaning}" if info.meaning else code


class OperatorHealthViews(AdminPagesMixin):
    """The pages, mixed into DarajaCredentialSetAdmin (payments/admin/controls.py)."""

    def operator_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("<int:set_id>/operator/", view(self.operator_view), name="payments_darajacredentialset_operator"),
            path("<int:set_id>/operator/reinstate/", view(self.operator_reinstate_view),
                 name="payments_darajacredentialset_operator_reinstate"),
            path("<int:set_id>/operator/request-again/", view(self.operator_request_again_view),
                 name="payments_darajacredentialset_operator_request_again"),
        ]  # fmt: skip

    def _credential_set(self, request, set_id: int):
        credential_set = get_object_or_404(DarajaCredentialSet, pk=set_id)
        if not may_manage_operator(request):
            return None, refused(request, SUPERUSERS_ONLY)
        return credential_set, None

    def operator_view(self, request, set_id: int):
        credential_set, refusal = self._credential_set(request, set_id)
        if refusal:
            return refusal
        payouts = list(operator_refused_payouts(credential_set.pk).select_related("requested_by"))
        rows = [
            {
                "payout": payout,
                "amount": kes(payout.amount),
                "paid_to": paid_to(payout, masked=True),
                "code": refusal_words(payout.result_code),
                "failed_at": timezone.localtime(payout.status_changed_at) if payout.status_changed_at else None,
            }
            for payout in payouts
        ]
        return self.page(
            request,
            "admin/payments/darajacredentialset/operator.html",
            f"Operator health of {credential_set.name}",
            original=credential_set,
            down=credential_set.operator_down_since is not None,
            rows=rows,
            total=kes(sum((payout.amount for payout in payouts), Decimal("0.00"))),
            links=operator_links(credential_set.pk),
        )

    def operator_request_again_view(self, request, set_id: int):
        credential_set, refusal = self._credential_set(request, set_id)
        if refusal:
            return refusal
        here = operator_page_url(credential_set.pk)
        if request.method == "POST" and "confirm" in request.POST:
            try:
                created = operator_request_all_again(
                    set_id=credential_set.pk, actor=request.user, source=EventSource.ADMIN
                )
            except ApplicationError as exc:
                # One refused stops the rest; those requested before it stay requested (each its own commit).
                messages.error(request, f"{exc.message} Any requested before it stay requested; the list shows "
                                        "those still waiting.")  # fmt: skip
                return HttpResponseRedirect(here)
            if not created:
                messages.info(request, "No payout to request again: every refused payout of this set has been "
                                       "requested again already.")  # fmt: skip
            else:
                ids = ", ".join(f"#{payout.pk}" for payout in created)
                messages.success(
                    request,
                    f"{count_of(len(created), 'payout')} requested again ({ids}): each waits for its approvals, as "
                    "any request. The failed ones are not sent again.",
                )
            return HttpResponseRedirect(here)
        waiting = operator_refused_payouts(credential_set.pk).count()
        return self.page(
            request,
            "admin/payments/confirm.html",
            f"Request the refused payouts of {credential_set.name} again",
            original=credential_set,
            cancel_url=here,
            submit_label="Yes, request them all again",
            text=f"{count_of(waiting, 'payout')} of credential set {credential_set.name} failed because M-Pesa "
            "refused its operator: no money moved. Requesting them again creates a new payout for each (same "
            "amount and payee, a new request reference), waiting in pending approval for the usual approvals. "
            "The failed payouts are never sent again.",
        )

    def operator_reinstate_view(self, request, set_id: int):
        credential_set, refusal = self._credential_set(request, set_id)
        if refusal:
            return refusal
        here = operator_page_url(credential_set.pk)
        if request.method == "POST" and "confirm" in request.POST:
            try:
                state = operator_reinstate(set_id=credential_set.pk, actor=request.user, source=EventSource.ADMIN)
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return HttpResponseRedirect(here)
            except ImproperlyConfigured as exc:
                messages.error(request, f"Daraja is not configured: {exc}")
                return HttpResponseRedirect(here)
            credential_set.refresh_from_db(fields=["operator_down_since", "operator_down_reason"])
            if credential_set.operator_down_since is None:
                messages.success(
                    request,
                    f"M-Pesa accepted the probe: credential set {credential_set.name} is up again. Sending resumes; "
                    "the approved payouts held for it are queued.",
                )
            else:
                messages.error(
                    request,
                    f"M-Pesa refused the probe ({state.probe_refusal or 'no answer'}): credential set "
                    f"{credential_set.name} stays down and nothing is sent. Check the operator in the M-Pesa org "
                    "portal, then the set's initiator password and SecurityCredential.",
                )
            return HttpResponseRedirect(here)
        if credential_set.operator_down_since is None:
            messages.info(request, f"Credential set {credential_set.name} is not down: nothing to reinstate.")
            return HttpResponseRedirect(here)
        return self.page(
            request,
            "admin/payments/confirm.html",
            f"Reinstate credential set {credential_set.name}",
            original=credential_set,
            cancel_url=here,
            submit_label="Yes, send the probe",
            text=f"Credential set {credential_set.name} is down: {credential_set.operator_down_reason}. Reinstating "
            "sends one balance query to M-Pesa with this set's credentials, as a probe (it moves no money). Only if "
            "M-Pesa accepts it is the set up again and sending resumes (the approved payouts held for it are "
            "queued); if M-Pesa refuses it, the set stays down and nothing is sent. Fix the operator in the org "
            "portal and update the set's password and SecurityCredential first.",
        )
