"""The payout console's own pages (dj-stripe's admin/views.py shape): the disbursement request and edit
forms, the approve/reject confirmation pages, status queries, request again and review; the bulk upload's
preview and confirmation are in payments/admin/bulk_views.py. PayoutAdmin (payments/admin/payouts.py) is the
list, the change page and the URLs that name these views; each view checks who may use it and calls a
service, which writes (nothing here writes a Payout)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from core.console_kit import (
    AdminPagesMixin,
    RowResult,
    count_of,
    kes,
    refused,
    report_rows,
    safe_next,
)
from core.errors import ApplicationError, InvalidState
from core.phone import InvalidPhoneNumber, normalize_msisdn
from daraja import result_codes
from daraja.callbacks import CallbackParseError, load_json, parse_b2c_result, parse_status_result
from mpesa_payouts.effects import after_commit
from payments import dashboard
from payments import submit_once as submissions
from payments.admin.bulk_views import BulkUploadViews
from payments.admin.payout_words import expected_charge_words, form_paid_to, paid_to, schedule_words
from payments.forms import (
    RAIL_CHOICES,
    DisbursementForm,
    PayoutEditForm,
    RejectForm,
    ReviewForm,
    add_service_error,
)
from payments.models import (
    ApprovalSource,
    CallbackKind,
    DarajaCallback,
    EventSource,
    Payout,
    PayoutApproval,
    PayoutControl,
    PayoutEditor,
    PayoutRail,
    PayoutStatus,
)
from payments.payouts import dispatch
from payments.payouts import review as payout_review
from payments.payouts import services as payout_services
from payments.payouts.approval_rules import approvals_missing, rule_for
from payments.payouts.four_eyes import interest_of
from payments.payouts.limits import payouts_paused
from payments.payouts.name_check import NAME_TO_CONFIRM
from payments.payouts.outcomes import QueryOutcome
from payments.payouts.rails import command_id_for
from payments.roles import can_approve, can_request

ADMIN = EventSource.ADMIN
# The most payouts one decision page handles (a CSV batch is at most 1,000 rows).
MAX_PER_DECISION = 1000
QUERYABLE_FROM_ADMIN = (PayoutStatus.VERIFYING, PayoutStatus.NEEDS_REVIEW)


def parse_ids(raw: str | list[str]) -> list[int]:
    values = raw if isinstance(raw, list) else [raw]
    ids: list[int] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if part.isdigit() and int(part) not in ids:
                ids.append(int(part))
    return ids


def editor_label(editor: PayoutEditor) -> str:
    """ "jane (amount, phone)": who changed the payout and what."""
    return f"{editor.user} ({', '.join(editor.fields) or 'nothing'})"


def payout_kill_switch_context() -> dict:
    control = PayoutControl.objects.select_related("changed_by").filter(pk=1).first()
    return {"payout_control": control, "payouts_paused_env": settings.PAYOUTS_PAUSED}


def paid_from(payout: Payout) -> str:
    if not payout.payment_id:
        return ""
    return payout.payment.phone


def phone_differs_text(payout: Payout) -> str:
    return f"This refund goes to {payout.phone}, not to the number that paid ({paid_from(payout) or 'unknown'})."


def mpesa_said(payout: Payout) -> dict:
    """What M-Pesa last reported about a payout, shown beside a review's choice: its result, receipt and the
    amount its last result or status answer named (read from that stored callback)."""
    amount = None
    last = (
        DarajaCallback.objects.filter(
            payout_id=payout.pk, kind__in=[CallbackKind.B2C_RESULT, CallbackKind.STATUS_RESULT]
        )
        .order_by("-received_at", "-id")
        .first()
    )
    if last is not None:
        try:
            data = load_json(last.raw_body)
            parsed = parse_b2c_result(data) if last.kind == CallbackKind.B2C_RESULT else parse_status_result(data)
            amount = parsed.amount
        except (CallbackParseError, ValueError, TypeError, AttributeError):
            amount = None  # a body we could not read shows no amount; the raw body is on the payout's page
    return {
        "result_code": payout.result_code or "-",
        "result_description": payout.result_description or "-",
        "receipt": payout.transaction_id or "none",
        "amount": kes(amount) if amount is not None else "not reported",
        "payout_amount": kes(payout.amount),
    }


def one_payout(allowed: Callable[[HttpRequest], bool], refusal: str, *, related: tuple[str, ...] = ()):
    """A page about one payout (`<int:object_id>/...`): 404 when there is no such payout, the refusal page for
    whoever `allowed` refuses, else the view, given the payout and the URL of its change page."""

    def decorate(view):
        @wraps(view)
        def page(self, request, object_id: int):
            payout = get_object_or_404(Payout.objects.select_related(*related) if related else Payout, pk=object_id)
            if not allowed(request):
                return refused(request, refusal)
            return view(self, request, payout, reverse("admin:payments_payout_change", args=(payout.pk,)))

        return page

    return decorate


class PayoutViews(BulkUploadViews, AdminPagesMixin):
    """The pages of the payout console beyond Django's own list and change page, each a view with its
    template; PayoutAdmin.get_urls names them."""

    def back(self, request, default: str) -> HttpResponseRedirect:
        return HttpResponseRedirect(safe_next(request) or default)

    # --- add: a disbursement request --------------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if not can_request(request):
            return refused(request, "Only payout requesters can request disbursements.")
        # Two steps, as a refund: the form ("Continue", which checks the amount, phone and limits), then a
        # confirmation of what will be created ("Yes, request this payout").
        if request.method == "POST" and "confirm" in request.POST:
            # A second click of "Yes" is answered with the payout the first made, before any check it would fail.
            earlier = submissions.submitted_earlier(
                user=request.user, form="disbursement", nonce=request.POST.get(submissions.NONCE_FIELD, "")
            )
            if earlier:
                messages.info(request, "This request was submitted already: here is its payout.")
                return HttpResponseRedirect(earlier)
        form = DisbursementForm(request.POST or None, initial=self.rail_initial(request))
        if request.method == "POST" and form.is_valid() and "edit" not in request.POST:
            data = form.cleaned_data
            try:
                phone, amount = payout_services.payout_request_precheck(
                    phone=data["phone"], amount=data["amount"], rail=data["rail"], party_b=data["party_b"]
                )
                submitted = None
                if "confirm" in request.POST:
                    submitted = submissions.submit_once(
                        user=request.user,
                        form="disbursement",
                        nonce=request.POST.get(submissions.NONCE_FIELD, ""),
                        create=lambda: payout_services.payout_request_disbursement(
                            requested_by=request.user, source=ADMIN, **data
                        ),
                        url_of=lambda payout: reverse("admin:payments_payout_change", args=(payout.pk,)),
                    )
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                if submitted is not None and submitted.created is None:
                    messages.info(request, "This request was submitted already: here is its payout.")
                    return HttpResponseRedirect(submitted.url)
                payout = submitted.created if submitted is not None else None
                if payout is None:
                    return self.page(
                        request,
                        "admin/payments/payout/disbursement_confirmation.html",
                        "Confirm the payout request",
                        form=form,
                        data=data,
                        paid_to=form_paid_to(data),
                        command_id=command_id_for(data["rail"], data["command_id"]),
                        amount=kes(amount),
                        expected_charge=expected_charge_words(data.get("rail") or PayoutRail.MOBILE, amount),
                        send_after=data.get("send_after"),
                        approvals_needed=rule_for(amount=amount, rail=data.get("rail") or PayoutRail.MOBILE,
                                                 source=ApprovalSource.CONSOLE)["approvals"],
                        hidden=[(name, form[name].value() or "") for name in form.fields],
                        form_nonce=submissions.new_nonce(),
                    )
                messages.success(
                    request,
                    f"Payout #{payout.pk} of {kes(payout.amount)} to "
                    f"{paid_to(payout, masked=True)} requested; it waits for approval.",
                )
                return HttpResponseRedirect(reverse("admin:payments_payout_change", args=(payout.pk,)))
        return self.page(
            request,
            "admin/payments/payout/form_page.html",
            "Request a disbursement",
            form=form,
            submit_label="Continue",
            rail_form=True,
            intro="Choose how it is paid first, then fill in what that rail needs (each field says which rails "
            "take it). The payout is created in pending approval: another person must approve it before it is sent.",
        )

    @staticmethod
    def rail_initial(request) -> dict:
        """`?rail=paybill` opens the form with that rail chosen (links to "pay a supplier", "top up the float")."""
        rail = request.GET.get("rail", "")
        return {"rail": rail} if rail in dict(RAIL_CHOICES) else {}

    # --- edit: through payout_update, which voids approvals of a changed amount/phone/CommandID -----

    @one_payout(can_request, "Only payout requesters can edit payouts.", related=("payment",))
    def edit_view(self, request, payout: Payout, change_url: str):
        if payout.status not in payout_services.EDITABLE_STATUSES:
            messages.error(
                request, f"Payout #{payout.pk} is {payout.get_status_display().lower()}; it can no longer be edited."
            )
            return HttpResponseRedirect(change_url)
        form = PayoutEditForm.for_payout(payout, data=request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            changes = form.changes()
            if not changes:
                messages.info(request, "Nothing was changed.")
                return HttpResponseRedirect(change_url)
            voiding = payout.approvals.filter(voided_at__isnull=True).count()
            try:
                updated = payout_services.payout_update(
                    payout_id=payout.pk, updated_by=request.user, source=ADMIN, **changes
                )
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                voided = voiding - updated.approvals.filter(voided_at__isnull=True).count()
                note = ""
                if voided:
                    note = f" {count_of(voided, 'approval')} voided: the payout is back in pending approval."
                messages.success(request, f"Payout #{payout.pk} updated.{note}")
                return HttpResponseRedirect(change_url)
        approvals = payout.approvals.filter(voided_at__isnull=True).count()
        return self.page(
            request,
            "admin/payments/payout/form_page.html",
            f"Edit payout #{payout.pk}",
            form=form,
            original=payout,
            submit_label="Save changes",
            intro=f"Status: {payout.get_status_display()}. Changing the amount, phone or payment type voids "
            f"the {count_of(approvals, 'approval')} given so far and returns the payout to pending approval; whoever "
            "changes them may no longer approve it. Every change is recorded with its old and new value.",
        )

    # --- approve / reject: confirmation page, then one service call per row --------------------------

    def decision_ids(self, request) -> list[int]:
        source = request.POST if request.method == "POST" else request.GET
        ids = parse_ids(source.getlist("ids"))
        batches = parse_ids(source.getlist("batch"))
        if batches and not ids:
            ids = list(
                Payout.objects.filter(batch_id__in=batches, status=PayoutStatus.PENDING_APPROVAL)
                .order_by("pk")
                .values_list("pk", flat=True)[: MAX_PER_DECISION + 1]
            )
        return ids

    def decision_rows(self, request, ids: list[int], decision: str) -> list[dict]:
        active = PayoutApproval.objects.filter(voided_at__isnull=True).select_related("approver")
        editors = PayoutEditor.objects.select_related("user")
        payouts = (
            Payout.objects.filter(pk__in=ids)
            .select_related("requested_by", "payment")
            .prefetch_related(
                Prefetch("approvals", queryset=active, to_attr="active_list"),
                Prefetch("editors", queryset=editors, to_attr="editor_list"),
            )
            .order_by("pk")
        )
        rows = []
        for payout in payouts:
            notes = []
            if decision == "approve" and payout.status != PayoutStatus.PENDING_APPROVAL:
                notes.append(f"It is {payout.get_status_display().lower()}: it will be refused.")
            if decision == "reject" and payout.status not in payout_services.EDITABLE_STATUSES:
                notes.append(f"It is {payout.get_status_display().lower()}: it will be refused.")
            interest = interest_of(payout, request.user, payout.editor_list)
            if interest == "requested":
                notes.append("You requested it: another person must decide on it.")
            elif decision == "approve" and interest:
                notes.append("You changed its amount, phone or payment type: another person must approve it.")
            if any(a.approver_id == request.user.pk for a in payout.active_list):
                notes.append("You have already approved it.")
            if decision == "approve" and payout.name_check_status in NAME_TO_CONFIRM:
                notes.append("The name M-Pesa reports differs: tick \"I have checked the name\" to approve it.")
            rows.append(
                {
                    "payout": payout,
                    "approvers": ", ".join(str(a.approver) for a in payout.active_list),
                    "editors": [editor_label(e) for e in payout.editor_list],
                    "approval_count": len(payout.active_list),
                    "warning": phone_differs_text(payout) if payout.phone_differs_from_payment else "",
                    "name_to_confirm": payout.name_check_status in NAME_TO_CONFIRM,
                    "notes": notes,
                }
            )
        return rows

    def decision_page(self, request, decision: str, ids: list[int], form=None) -> TemplateResponse:
        rows = self.decision_rows(request, ids, decision)
        total = sum(row["payout"].amount for row in rows)
        title = ("Approve" if decision == "approve" else "Reject") + f" {count_of(len(rows), 'payout')}"
        return self.page(
            request,
            f"admin/payments/payout/{decision}_confirmation.html",
            title,
            rows=rows,
            total=total,
            ids=",".join(str(row["payout"].pk) for row in rows),
            form=form,
            post_url=self.url(decision),
            # Only a link to this site: `?next=javascript:...` would otherwise run script on one click.
            next=safe_next(request),
            warnings=sum(1 for row in rows if row["warning"]),
            names_to_confirm=sum(1 for row in rows if row["name_to_confirm"]),
            schedule=schedule_words([row["payout"].send_after for row in rows]) if decision == "approve" else "",
            **payout_kill_switch_context(),
        )

    def _decision_guard(self, request, ids: list[int]):
        if not can_approve(request):
            return refused(request, "Only payout approvers can approve or reject payouts.")
        if not ids:
            messages.warning(request, "No payouts to decide on: none was chosen, or none is pending approval.")
            return HttpResponseRedirect(self.url("changelist"))
        if len(ids) > MAX_PER_DECISION:
            messages.error(request, f"Choose at most {MAX_PER_DECISION} payouts at a time.")
            return HttpResponseRedirect(self.url("changelist"))
        return None

    def _decision_request(self, request, decision: str, form=None):
        """The ids to decide on, and the page to show instead unless this is the confirmed POST (a refusal,
        or the confirmation page)."""
        ids = self.decision_ids(request)
        refusal = self._decision_guard(request, ids)
        if refusal:
            return ids, refusal
        if request.method != "POST" or "confirm" not in request.POST:
            return ids, self.decision_page(request, decision, ids, form=form)
        return ids, None

    def approve_view(self, request):
        ids, page = self._decision_request(request, "approve")
        if page is not None:
            return page
        paused = payouts_paused()
        # Each approval commits on its own; the ones that made a payout `approved` are queued together at the
        # end, SENDS_PER_MESSAGE ids to a `send_payouts` message (a payroll of 1,000 is 50 messages, not 1,000).
        approved: list[int] = []
        name_confirmed = request.POST.get("name_confirmed") == "on"
        try:
            rows = [self._approve_one(request, pk, paused=paused, approved=approved, name_confirmed=name_confirmed)
                    for pk in ids]
        finally:
            if approved:
                after_commit(lambda: payout_services.queue_sends(approved))
        report_rows(request, rows)
        return HttpResponseRedirect(safe_next(request) or self.next_awaiting_url(request))

    def next_awaiting_url(self, request) -> str:
        """Where an approver goes after a decision: the oldest payout still waiting for them (the queue they
        work through), or their empty queue, said out loud, rather than the list of everyone's payouts."""
        waiting = dashboard.awaiting_approval_of(request.user).order_by("created_at", "pk").first()
        if waiting is not None:
            return self.url("change", waiting.pk)
        messages.info(request, "Nothing else is waiting for your approval.")
        return f"{self.url('changelist')}?awaiting=me"

    def _approve_one(self, request, pk: int, *, paused: bool, approved: list[int], name_confirmed: bool) -> RowResult:
        try:
            payout = payout_services.payout_approve(payout_id=pk, approved_by=request.user, source=ADMIN, queue=False,
                                                    name_confirmed=name_confirmed)
        except Payout.DoesNotExist:
            return RowResult(pk, False, "no such payout.")
        except ApplicationError as exc:
            return RowResult(pk, False, exc.message)
        if payout.status == PayoutStatus.APPROVED:
            approved.append(pk)
            if paused:
                return RowResult(pk, True, "approved; it waits until payouts are resumed (kill switch).")
            return RowResult(pk, True, "approved; it will be sent.")
        missing = approvals_missing(payout, payout.approvals.filter(voided_at__isnull=True).select_related("approver"))
        return RowResult(pk, True, f"approval recorded ({missing}); it needs another approver.")

    def reject_view(self, request):
        ids, page = self._decision_request(request, "reject", form=RejectForm())
        if page is not None:
            return page
        form = RejectForm(request.POST)
        if not form.is_valid():
            return self.decision_page(request, "reject", ids, form=form)
        reason = form.cleaned_data["reason"]
        results = []
        for pk in ids:
            try:
                payout_services.payout_reject(payout_id=pk, rejected_by=request.user, reason=reason, source=ADMIN)
            except Payout.DoesNotExist:
                results.append(RowResult(pk, False, "no such payout."))
            except ApplicationError as exc:
                results.append(RowResult(pk, False, exc.message))
            else:
                results.append(RowResult(pk, True, "rejected."))
        report_rows(request, results)
        return self.back(request, self.url("changelist"))

    # --- what happened to it? ---------------------------------------------------------------------

    def _query_one(self, request, payout_id: int, status: str) -> RowResult:
        if status not in QUERYABLE_FROM_ADMIN:
            return RowResult(
                payout_id, False, f"it is {status}; only verifying and needs-review payouts are queried from here."
            )
        try:
            outcome = dispatch.payout_query_status(payout_id=payout_id, source=ADMIN, force=True, actor=request.user)
        except ImproperlyConfigured as exc:
            return RowResult(payout_id, False, f"Daraja is not configured: {exc}")
        if outcome == QueryOutcome.QUERIED:
            return RowResult(payout_id, True, "status query sent; M-Pesa's answer will settle the payout.")
        if outcome == QueryOutcome.NO_ID:
            return RowResult(payout_id, False, "Daraja's answer to its request was lost: there is no id to ask "
                             "M-Pesa by. Look it up in the M-Pesa org portal.")
        if outcome == QueryOutcome.ERROR:
            return RowResult(payout_id, False, "the status query could not be sent (Daraja error); try again later.")
        return RowResult(payout_id, False, f"not queried ({outcome}).")

    @one_payout(
        lambda request: can_approve(request) or can_request(request),
        "Only payout requesters and approvers can ask M-Pesa for a payout's status.",
    )
    def query_status_view(self, request, payout: Payout, change_url: str):
        if request.method == "POST":
            report_rows(request, [self._query_one(request, payout.pk, payout.status)])
            return HttpResponseRedirect(change_url)
        return self.page(
            request,
            "admin/payments/confirm.html",
            f"Query the status of payout #{payout.pk}",
            original=payout,
            cancel_url=change_url,
            submit_label="Ask M-Pesa now",
            text=f"Payout #{payout.pk} is {payout.get_status_display().lower()}. A Transaction Status query asks "
            "M-Pesa what happened to it; the answer arrives by callback and settles it. Nothing is sent again.",
        )

    # --- a failed payout, requested again ------------------------------------------------------------

    @one_payout(can_request, "Only payout requesters can request a failed payout again.")
    def request_again_view(self, request, payout: Payout, change_url: str):
        if request.method == "POST":
            # Blank or unchanged boxes keep the failed payout's values; a changed one is the correction.
            phone = request.POST.get("phone", "").strip()
            name = request.POST.get("recipient_name", "").strip()
            try:
                if phone and phone != payout.phone:
                    try:
                        normalize_msisdn(phone)
                    except InvalidPhoneNumber as exc:
                        return self.request_again_page(request, payout, change_url, error=str(exc), status=400)
                retry = payout_services.payout_request_again(
                    payout_id=payout.pk,
                    requested_by=request.user,
                    source=ADMIN,
                    phone=phone or None,
                    recipient_name=name if name and not payout.payment_id else None,
                )
            except InvalidState as exc:
                earlier = payout.retries.order_by("pk").first() if exc.code == "already_retried" else None
                if earlier is None:
                    messages.error(request, f"Payout #{payout.pk}: {exc.message}")
                    return HttpResponseRedirect(change_url)
                # A double click: the original is requested again once (under its row lock); show that request.
                messages.info(request, f"Payout #{payout.pk} was already requested again as payout #{earlier.pk}.")
                return HttpResponseRedirect(reverse("admin:payments_payout_change", args=(earlier.pk,)))
            except ApplicationError as exc:
                messages.error(request, f"Payout #{payout.pk}: {exc.message}")
                return HttpResponseRedirect(change_url)
            messages.success(
                request,
                f"Payout #{retry.pk} requested: {kes(retry.amount)} to {paid_to(retry, masked=True)}, again after "
                f"#{payout.pk} failed. It waits for approval.",
            )
            return HttpResponseRedirect(reverse("admin:payments_payout_change", args=(retry.pk,)))
        return self.request_again_page(request, payout, change_url)

    def request_again_page(
        self, request, payout: Payout, change_url: str, *, error: str = "", status: int = 200
    ) -> TemplateResponse:
        meaning = ""
        if payout.result_code:
            info = result_codes.lookup(payout.result_code)
            meaning = f" It failed with result {payout.result_code}: {info.meaning}. What to do: {info.action}."
        fields = []
        if payout.phone:  # a paybill, till or top-up is asked again as it was
            fields.append(
                {
                    "name": "phone",
                    "label": "Phone",
                    "value": request.POST.get("phone", payout.phone),
                    "help": "Correct it if the number was wrong; leave it to pay the same number.",
                    "error": error,
                }
            )
        if not payout.payment_id:  # a refund goes to whoever paid: its name is the payment's
            fields.append(
                {
                    "name": "recipient_name",
                    "label": "Recipient name",
                    "value": request.POST.get("recipient_name", payout.recipient_name),
                    "help": "Correct it if M-Pesa reported another name.",
                    "error": "",
                }
            )
        response = self.page(
            request,
            "admin/payments/confirm.html",
            f"Request payout #{payout.pk} again",
            original=payout,
            cancel_url=change_url,
            submit_label="Yes, request it again",
            fields=fields,
            text=f"Payout #{payout.pk} ({kes(payout.amount)} to {paid_to(payout)}) failed: no money moved.{meaning} "
            "Requesting it again creates a new payout with the same amount, rail and payment type (and the phone "
            "and name below, corrected if need be) and a new request reference, waiting for approval by someone "
            "other than you. The failed payout is not sent again.",
        )
        response.status_code = status
        return response

    # --- needs_review: a person settles it ----------------------------------------------------------

    @one_payout(can_approve, "Only payout approvers can mark a payout reviewed.")
    def review_view(self, request, payout: Payout, change_url: str):
        if payout.status != PayoutStatus.NEEDS_REVIEW:
            messages.error(request, f"Payout #{payout.pk} is {payout.get_status_display().lower()}, not needs review.")
            return HttpResponseRedirect(change_url)
        waiting = payout_review.open_review(payout)
        if request.method == "POST" and "confirm_review" in request.POST:
            try:
                payout_review.payout_confirm_review(payout_id=payout.pk, confirmed_by=request.user, source=ADMIN)
            except ApplicationError as exc:
                messages.error(request, f"Payout #{payout.pk}: {exc.message}")
                return HttpResponseRedirect(self.url("review", payout.pk))
            messages.success(request, f"Review confirmed: payout #{payout.pk} marked {waiting.resolution}.")
            return HttpResponseRedirect(change_url)
        form = ReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                reviewed = payout_review.payout_mark_reviewed(
                    payout_id=payout.pk, reviewed_by=request.user, source=ADMIN, **form.cleaned_data
                )
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                if reviewed.status == PayoutStatus.NEEDS_REVIEW:
                    messages.warning(
                        request,
                        f"Review of payout #{payout.pk} recorded: it contradicts what M-Pesa reported, so another "
                        "approver (not its requester, an editor, nor you) must confirm it before it counts.",
                    )
                else:
                    messages.success(request, f"Payout #{payout.pk} marked {form.cleaned_data['resolution']}.")
                return HttpResponseRedirect(change_url)
        return self.page(
            request,
            "admin/payments/payout/review_page.html",
            f"Mark payout #{payout.pk} reviewed",
            form=form,
            original=payout,
            mpesa=mpesa_said(payout),
            waiting=waiting,
            submit_label="Record the review",
            intro=f"Why it needs review: {payout.review_reason or 'no answer from M-Pesa'}. Check the M-Pesa portal "
            f"for our request reference {payout.originator_conversation_id} ({kes(payout.amount)} to "
            f"{payout.phone}) and record what it shows. Nothing is sent again from here. A resolution that "
            "contradicts what M-Pesa reported (failed after a success, completed without its receipt) is "
            "recorded and counts only once another approver confirms it.",
        )
