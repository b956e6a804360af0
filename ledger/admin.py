"""The finance console: accounts with their balances and a statement per account (read-only: entries and
transactions are never editable), journal transactions, float checks, four-eyes funding requests, and the
charges and transfers an uploaded statement proposes (posted only when another person accepts them)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import Sum
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, resolve, reverse
from django.utils.dateparse import parse_date
from django.utils.html import format_html

from core.console_kit import EstimatedCountPaginator, badge, kes, refused
from core.errors import ApplicationError
from ledger import accounts, selectors
from ledger.export import NAIROBI
from ledger.models import (
    Account,
    Entry,
    FloatCheck,
    FundingRequest,
    FundingStatus,
    JournalTransaction,
    ProposalStatus,
    StatementProposal,
)
from ledger.services import money, statement
from payments import submit_once as submissions


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    change_list_template = "admin/ledger/account/change_list.html"
    list_display = ["code", "name", "type", "external_code", "balance", "statement"]
    fields = ["code", "name", "type", "external_code", "may_go_negative", "description"]
    readonly_fields = ["code", "type", "may_go_negative"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Only the name and the accounting system's code may change; never a balance.
        return request.user.is_superuser

    def changelist_view(self, request, extra_context=None):
        self._balances = {line.code: line.balance for line in selectors.account_list()}
        return super().changelist_view(request, extra_context)

    @admin.display(description="Balance")
    def balance(self, obj: Account) -> str:
        return kes(getattr(self, "_balances", {}).get(obj.code, Decimal("0")))

    @admin.display(description="Statement")
    def statement(self, obj: Account) -> str:
        return format_html('<a href="{}">Statement</a>', reverse("admin:ledger_account_statement", args=[obj.code]))

    def get_urls(self):
        own = [
            path(
                "trial-balance/",
                self.admin_site.admin_view(self.trial_balance_view),
                name="ledger_account_trial_balance",
            ),
            path(
                "<str:code>/statement/",
                self.admin_site.admin_view(self.statement_view),
                name="ledger_account_statement",
            ),
        ]
        return own + super().get_urls()

    def statement_view(self, request, code: str):
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        account = get_object_or_404(Account, code=code)
        start, end = _day(request.GET.get("start")), _day(request.GET.get("end"))
        since = datetime.combine(start, time.min, tzinfo=NAIROBI) if start else None
        until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=NAIROBI) if end else None
        entries = selectors.account_entries(code=code, start=since, end=until).order_by("-posted_at", "-id")
        page = EstimatedCountPaginator(entries, 100).get_page(request.GET.get("p"))
        balance = selectors.account_balance(code)
        closing = selectors.account_balance(code, at=until) if until else None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Statement: {account.name}",
            "account": account,
            "balance": balance,
            "closing": closing,
            "page": page,
            "rows": _running(account, entries, page, balance if closing is None else closing),
            "start": start,
            "end": end,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/ledger/account/statement.html", context)

    def trial_balance_view(self, request):
        """The API's trial balance (the same selector) as of the end of a Nairobi day, today by default."""
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        day = _day(request.GET.get("at"))
        at = datetime.combine(day + timedelta(days=1), time.min, tzinfo=NAIROBI) if day else None
        trial = selectors.trial_balance(at=at)
        context = {
            **self.admin_site.each_context(request),
            "title": "Trial balance",
            "day": day,
            "refused": bool(request.GET.get("at")) and day is None,
            "trial": trial,
            "difference": trial.debits - trial.credits,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/ledger/account/trial_balance.html", context)


def _running(account: Account, entries, page, newest_balance: Decimal) -> list[tuple[Entry, Decimal]]:
    """Each entry of the page (newest first) with the account's balance just after it: the balance at the end
    of the range less every newer entry of the range."""

    def signed(debit, credit) -> Decimal:
        return debit - credit if account.debit_normal else credit - debit

    newer = page.start_index() - 1 if page.object_list else 0
    if newer:
        above = entries[:newer].aggregate(d=Sum("debit"), c=Sum("credit"))
        newest_balance -= signed(above["d"] or Decimal("0"), above["c"] or Decimal("0"))
    rows = []
    for entry in page.object_list:
        rows.append((entry, newest_balance))
        newest_balance -= signed(entry.debit, entry.credit)
    return rows


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ["account", "debit_kes", "credit_kes", "posted_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="Debit")
    def debit_kes(self, obj: Entry) -> str:
        return kes(obj.debit) if obj.debit else ""

    @admin.display(description="Credit")
    def credit_kes(self, obj: Entry) -> str:
        return kes(obj.credit) if obj.credit else ""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(JournalTransaction)
class JournalTransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "posted_at", "kind", "source", "source_id", "memo", "payout_id", "payment_id"]
    list_filter = ["kind", "source"]
    search_fields = ["=source_id", "memo"]
    inlines = [EntryInline]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FloatCheck)
class FloatCheckAdmin(ReadOnlyAdmin):
    list_display = ["observed_at", "reported_kes", "ledger_kes", "in_flight_kes", "drift_kes", "verdict",
                    "likely_cause"]  # fmt: skip
    list_filter = ["flagged"]

    @admin.display(description="M-Pesa reported", ordering="reported")
    def reported_kes(self, obj: FloatCheck) -> str:
        return kes(obj.reported)

    @admin.display(description="Ledger's float", ordering="ledger_balance")
    def ledger_kes(self, obj: FloatCheck) -> str:
        return kes(obj.ledger_balance)

    @admin.display(description="In flight", ordering="in_flight")
    def in_flight_kes(self, obj: FloatCheck) -> str:
        return kes(obj.in_flight)

    @admin.display(description="Drift", ordering="drift")
    def drift_kes(self, obj: FloatCheck) -> str:
        return kes(obj.drift)

    @admin.display(description="Check", ordering="flagged")
    def verdict(self, obj: FloatCheck) -> str:
        # A drift is a problem to look into, never Django's green tick for a True field.
        if obj.flagged:
            return badge("error", "Drift: look into it")
        return badge("processed", "Agrees")


FUNDING_FORM = "funding"


class FundingRequestForm(forms.ModelForm):
    # One-time token of this render of the form (payments/submit_once.py): a double submit makes one.
    form_nonce = forms.CharField(
        widget=forms.HiddenInput,
        max_length=submissions.NONCE_MAX,
        error_messages={"required": "This form has no one-time token: open it again and submit it once."},
    )

    class Meta:
        model = FundingRequest
        fields = ["kind", "account", "amount", "receipt", "effective_at", "note"]
        help_texts = {
            "kind": "A top-up: money you sent into the M-Pesa account from outside (the bank). A move from the "
            "Working Account to the Utility Account made through a float top-up payout is posted by the payout: "
            "do not enter it here. An opening balance: what the account held on the day the ledger starts, "
            "entered once.",
            "account": "The B2C float (Utility Account), or the Working account that pays paybills and tills.",
            "amount": "In KES, as the M-Pesa portal or your bank shows it, e.g. 1000000.00.",
            "receipt": "The M-Pesa receipt of the transfer, if it has one: the statement that lists it later then "
            "posts nothing twice. Leave empty for an opening balance.",
            "effective_at": "When the money arrived (Nairobi time): the ledger posts it on that day.",
            "note": "Who sent it and why, as a colleague approving it needs to read it.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only our M-Pesa accounts are funded; left empty, the B2C float (as before the Working account existed).
        field = self.fields["account"]
        field.queryset = Account.objects.filter(code__in=accounts.FUNDABLE_ACCOUNTS)
        field.required = False
        field.empty_label = None
        field.label_from_instance = lambda account: accounts.FUNDABLE_ACCOUNTS[account.code]

    def clean_account(self):
        return self.cleaned_data.get("account") or Account.objects.get(pk=accounts.MPESA_UTILITY)


@admin.register(FundingRequest)
class FundingRequestAdmin(admin.ModelAdmin):
    """One person enters a top-up or an opening balance; another approves it, and only then is it posted."""

    list_display = [
        "id", "kind", "amount_kes", "receipt", "effective_at", "status", "requested_by", "decided_by", "decide_link",
    ]  # fmt: skip
    list_filter = ["status", "kind"]
    form = FundingRequestForm
    fields = ["kind", "account", "amount", "receipt", "effective_at", "note", "form_nonce"]
    # No list actions: posting KES 1,000,000 is decided on a page that shows the request and the float it is for.
    actions = []
    change_form_template = "admin/ledger/fundingrequest/change_form.html"

    def get_urls(self):
        decide = path(
            "<int:pk>/decide/", self.admin_site.admin_view(self.decide_view), name="ledger_fundingrequest_decide"
        )
        return [decide, *super().get_urls()]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context = {**context, "advice": selectors.float_advice(), "can_decide": self.has_approve_permission(request)}
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.display(description="Decision")
    def decide_link(self, obj: FundingRequest) -> str:
        if obj.status != FundingStatus.PENDING:
            return "-"
        return format_html('<a href="{}">Approve or reject…</a>', reverse("admin:ledger_fundingrequest_decide",
                                                                         args=(obj.pk,)))  # fmt: skip

    def decide_view(self, request, pk: int):
        """The confirmation page: what is posted, by whom requested, and the float it adds to; only its POST
        decides. Behind the admin, so the second factor the admin asks of approvers is asked here too."""
        funding = get_object_or_404(FundingRequest, pk=pk)
        if not self.has_approve_permission(request):
            return refused(request, "Only someone who may approve top-ups and opening balances can decide this.",
                           admin_site=self.admin_site)  # fmt: skip
        changelist = reverse("admin:ledger_fundingrequest_changelist")
        if request.method == "POST":
            decision = request.POST.get("decision")
            decide = {"approve": money.funding_request_approve, "reject": money.funding_request_reject}.get(decision)
            if decide is None:
                self.message_user(request, "Choose Approve or Reject: nothing was decided.", messages.ERROR)
                return HttpResponseRedirect(request.path)
            try:
                decided = decide(request_id=funding.pk, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{funding}: {exc.message}", messages.ERROR)
            else:
                verb = "approved and posted to the ledger" if decision == "approve" else "rejected"
                self.message_user(request, f"{decided.get_kind_display()}, {kes(decided.amount)}: {verb}.",
                                  messages.SUCCESS)  # fmt: skip
            return HttpResponseRedirect(changelist)
        advice = selectors.float_advice()
        context = {
            **self.admin_site.each_context(request),
            "title": f"Approve {kes(funding.amount)}: {funding.get_kind_display()}?",
            "funding": funding,
            "advice": advice,
            "own": funding.requested_by_id == request.user.pk,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/ledger/fundingrequest/decide.html", context)

    def get_changeform_initial_data(self, request):
        return {**super().get_changeform_initial_data(request), "form_nonce": submissions.new_nonce()}

    def add_view(self, request, form_url="", extra_context=None):
        if request.method == "POST":
            earlier = submissions.submitted_earlier(
                user=request.user, form=FUNDING_FORM, nonce=request.POST.get(submissions.NONCE_FIELD, "")
            )
            if earlier:
                self.message_user(request, "This funding request was submitted already: here it is.", messages.INFO)
                return HttpResponseRedirect(earlier)
        return super().add_view(request, form_url, extra_context)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Amount", ordering="amount")
    def amount_kes(self, obj: FundingRequest) -> str:
        return kes(obj.amount)

    def save_model(self, request, obj, form, change):
        submitted = submissions.submit_once(
            user=request.user,
            form=FUNDING_FORM,
            nonce=form.cleaned_data.get("form_nonce", ""),
            create=lambda: money.funding_request_create(
                requested_by=request.user, kind=obj.kind, amount=obj.amount, note=obj.note, receipt=obj.receipt,
                effective_at=obj.effective_at, account=obj.account_id or accounts.MPESA_UTILITY,
            ),
            url_of=lambda created: reverse("admin:ledger_fundingrequest_change", args=(created.pk,)),
        )
        # A concurrent twin of this submit made it: this one shows that request.
        obj.pk = submitted.created.pk if submitted.created else int(resolve(submitted.url).kwargs["object_id"])

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm("ledger.approve_fundingrequest")


@admin.register(StatementProposal)
class StatementProposalAdmin(admin.ModelAdmin):
    """What an uploaded statement proposes for the ledger, shown row by row (date, receipt, kind, amount) and
    posted only when someone other than the uploader accepts it: a statement is one person's file."""

    list_display = [
        "at",
        "receipt",
        "kind",
        "amount_kes",
        "account",
        "details",
        "status",
        "proposed_by",
        "job_link",
        "decided_by",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["receipt"]
    actions = ["accept", "reject"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("proposed_by", "decided_by")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Amount", ordering="amount")
    def amount_kes(self, obj: StatementProposal) -> str:
        return kes(obj.amount)

    @admin.display(description="Statement")
    def job_link(self, obj: StatementProposal) -> str:
        if not obj.job_id:
            return "reconcile_statement command"
        url = reverse("admin:payments_financejob_change", args=(obj.job_id,))
        return format_html('<a href="{}">Reconciliation #{}</a>', url, obj.job_id)

    def _decide(self, request, queryset, decide, verb: str) -> None:
        for proposal in queryset.filter(status=ProposalStatus.PROPOSED).order_by("at", "id"):
            try:
                decide(proposal_id=proposal.pk, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{proposal.receipt}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{proposal.receipt} ({proposal.get_kind_display().lower()}, {kes(proposal.amount)}) {verb}.",
                    messages.SUCCESS,
                )

    @admin.action(description="Accept (and post) the selected statement rows", permissions=["accept"])
    def accept(self, request, queryset):
        self._decide(request, queryset, statement.statement_proposal_accept, "accepted")

    @admin.action(description="Reject the selected statement rows", permissions=["accept"])
    def reject(self, request, queryset):
        self._decide(request, queryset, statement.statement_proposal_reject, "rejected")

    def has_accept_permission(self, request) -> bool:
        return request.user.has_perm(statement.ACCEPT_PERMISSION)


def _day(text: str | None):
    """A statement bound from the query string; one that is no date (2026-02-30, garbage) is no bound."""
    try:
        return parse_date(text or "")
    except ValueError:
        return None
