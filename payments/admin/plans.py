"""The payout plans' console: the list (state, schedule in words, next and last run), a plan's page (its
recipients, a change waiting beside what is approved, its runs and their batches, its history), the add and
edit form with recipient lines, and the approve / reject / pause / resume pages. Every change is a call to
payments/plans/services.py; the change page itself is read-only. The second factor is the console's own: a
session of an approver has passed the two-step login (docs/security.md)."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.console_kit import AdminPagesMixin, badge, kes, refused, table, when
from core.errors import ApplicationError
from core.money import MONEY
from payments.audit_sentences import event_sentence
from payments.forms import RejectForm
from payments.models import (
    AuditEvent,
    EventSource,
    PayoutPlan,
    PayoutPlanStatus,
    PlanFrequency,
    Recipient,
    RecipientStatus,
)
from payments.plans import selectors, services
from payments.plans.schedule import WEEKDAYS, Schedule, schedule_words
from payments.roles import VIEW_PAYOUTS, can_approve, can_request

ADMIN = EventSource.ADMIN
FORM = "admin/payments/payoutplan/form.html"
CONFIRM = "admin/payments/confirm.html"
EXTRA_LINES = 3
EVENTS_SHOWN = 500
RUNS_SHOWN = 52  # a year of weekly runs on the plan's page (a query's LIMIT); the API lists more


class PlanForm(forms.Form):
    name = forms.CharField(max_length=150,
                           help_text='e.g. "Trainers weekly"; each batch is named with it and the date.')
    frequency = forms.ChoiceField(choices=PlanFrequency.choices)
    weekday = forms.TypedChoiceField(label="Weekday (weekly)", coerce=int, required=False, empty_value=None,
                                     choices=[("", "-")] + list(enumerate(WEEKDAYS)))
    day_of_month = forms.IntegerField(label="Day of the month (monthly)", min_value=1, max_value=31, required=False,
                                      help_text="1-31; a day past the month's end means its last day.")
    time_of_day = forms.TimeField(label="Time (Nairobi)", input_formats=["%H:%M"], help_text="HH:MM, e.g. 09:00",
                                  widget=forms.TimeInput(format="%H:%M"))
    end_date = forms.DateField(required=False, help_text="Optional, YYYY-MM-DD: no run after this date.",
                               widget=forms.DateInput(attrs={"type": "date"}))


class LineForm(forms.Form):
    recipient = forms.ModelChoiceField(
        queryset=Recipient.objects.exclude(status=RecipientStatus.ARCHIVED), required=False,
        help_text="A saved recipient (one not yet approved is skipped at run time until it is).")
    amount = forms.DecimalField(**MONEY, min_value=Decimal("1"), required=False)

    def clean(self):
        data = super().clean()
        if data.get("recipient") and data.get("amount") is None:
            self.add_error("amount", "Give the amount this recipient is paid each run.")
        if data.get("amount") is not None and not data.get("recipient"):
            self.add_error("recipient", "Pick the recipient paid this amount.")
        return data


LineFormSet = forms.formset_factory(LineForm, extra=EXTRA_LINES)


def _buttons(links: list[tuple[str, str]]) -> str:
    return format_html_join(" ", '<a class="button" href="{}">{}</a>', ((url, label) for label, url in links))


def _batch_link(run) -> str:
    if run is None:
        return "-"
    if not run.batch_id:
        return format_html("{} (no batch: every recipient skipped)", run.scheduled_for.isoformat())
    url = reverse("admin:payments_payoutbatch_change", args=(run.batch_id,))
    return format_html('<a href="{}">{}</a>', url, run.batch.name)


@admin.register(PayoutPlan)
class PayoutPlanAdmin(AdminPagesMixin, admin.ModelAdmin):
    list_display = ("name", "state", "schedule", "next_run", "last_run", "total")
    list_filter = ("status", "frequency")
    search_fields = ("name",)
    readonly_fields = ("name", "state", "actions_links", "schedule", "end_date", "recipients", "change_waiting",
                       "next_runs", "runs", "created_by", "created_at", "approved_by", "approved_at", "history")
    fields = readonly_fields

    def get_queryset(self, request):
        return selectors.plans_with_lines()

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(VIEW_PAYOUTS)

    def has_module_permission(self, request) -> bool:
        return request.user.has_perm(VIEW_PAYOUTS)

    def has_add_permission(self, request) -> bool:
        return False  # the "new" page calls plan_create

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # --- columns --------------------------------------------------------------------------------

    @admin.display(description="state", ordering="status")
    def state(self, obj: PayoutPlan) -> str:
        waiting = format_html(" {}", badge("pending_approval", "change waiting")) if obj.pending_change else ""
        return format_html("{}{}", badge(obj.status, obj.get_status_display()), waiting)

    @admin.display(description="schedule")
    def schedule(self, obj: PayoutPlan) -> str:
        return selectors.plan_words(obj)

    @admin.display(description="next run")
    def next_run(self, obj: PayoutPlan) -> str:
        upcoming = selectors.plan_next_runs(obj, count=1)
        return when(upcoming[0]) if upcoming else "-"

    @admin.display(description="last run")
    def last_run(self, obj: PayoutPlan) -> str:
        return _batch_link(selectors.plan_last_run(obj))

    @admin.display(description="each run")
    def total(self, obj: PayoutPlan) -> str:
        return services.plan_total(obj)

    @admin.display(description="next runs")
    def next_runs(self, obj: PayoutPlan) -> str:
        return ", ".join(when(at) for at in selectors.plan_next_runs(obj)) or "- (not active)"

    @admin.display(description="Recipients (as approved)")
    def recipients(self, obj: PayoutPlan) -> str:
        return table(["Recipient", "Status", "Amount"],
                     [(line.recipient.name, badge(line.recipient.status, line.recipient.get_status_display()),
                       kes(line.amount)) for line in obj.lines.all()], empty="No recipients.")

    @admin.display(description="Change waiting for approval")
    def change_waiting(self, obj: PayoutPlan) -> str:
        change = obj.pending_change
        if not change:
            return "None"
        names = dict(Recipient.objects.filter(pk__in=[line["recipient"] for line in change["lines"]])
                     .values_list("pk", "name"))
        words = schedule_words(Schedule(change["frequency"], services.time_of_day_parse(change["time_of_day"]),
                                        change["weekday"], change["day_of_month"]))
        head = format_html("<p>Proposed by {}: <strong>{}</strong>, {}{}.</p>", obj.change_proposed_by,
                           change["name"], words, f", until {change['end_date']}" if change["end_date"] else "")
        return format_html("{}{}", head, table(["Recipient", "Amount"], [
            (names.get(line["recipient"], f"#{line['recipient']}"), kes(line["amount"])) for line in change["lines"]]))

    @admin.display(description="Runs")
    def runs(self, obj: PayoutPlan) -> str:
        rows = [(run.scheduled_for.isoformat(), _batch_link(run),
                 "; ".join(f"{s['name']}: {s['problem']}" for s in run.skipped) or "-")
                for run in obj.runs.select_related("batch")[:RUNS_SHOWN]]
        return table(["Date", "Batch", "Skipped"], rows, empty="No runs yet.")

    @admin.display(description="Do")
    def actions_links(self, obj: PayoutPlan) -> str:
        links = []
        if obj.status != PayoutPlanStatus.REJECTED:
            links.append(("Change", self.url("edit", obj.pk)))
        if obj.status == PayoutPlanStatus.PENDING_APPROVAL or obj.pending_change:
            links += [("Approve", self.url("approve", obj.pk)), ("Reject", self.url("reject", obj.pk))]
        if obj.status == PayoutPlanStatus.ACTIVE:
            links.append(("Pause", self.url("pause", obj.pk)))
        if obj.status == PayoutPlanStatus.PAUSED:
            links.append(("Resume", self.url("resume", obj.pk)))
        return _buttons(links)

    @admin.display(description="History")
    def history(self, obj: PayoutPlan) -> str:
        events = AuditEvent.objects.filter(details__plan=obj.pk).select_related("actor").order_by("pk")[:EVENTS_SHOWN]
        rows = [(when(e.created_at), event_sentence(e) + (f": {e.details['reason']}" if e.details.get("reason")
                                                           else "")) for e in events]
        return table(["When", "What"], rows, empty="No events.")

    # --- pages ----------------------------------------------------------------------------------

    def get_urls(self):
        own = [
            path("new/", self.admin_site.admin_view(self.edit_view), name="payments_payoutplan_new"),
            path("<int:pk>/edit/", self.admin_site.admin_view(self.edit_view), name="payments_payoutplan_edit"),
            path("<int:pk>/approve/", self.admin_site.admin_view(self.approve_view),
                 name="payments_payoutplan_approve"),
            path("<int:pk>/reject/", self.admin_site.admin_view(self.reject_view), name="payments_payoutplan_reject"),
            path("<int:pk>/pause/", self.admin_site.admin_view(self.pause_view), name="payments_payoutplan_pause"),
            path("<int:pk>/resume/", self.admin_site.admin_view(self.resume_view), name="payments_payoutplan_resume"),
        ]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        links = [("New payout plan", self.url("new"))] if can_request(request) else []
        return super().changelist_view(request, {**(extra_context or {}), "subtitle": _buttons(links)})

    def edit_view(self, request, pk: int | None = None):
        if not can_request(request):
            return refused(request, "Only payout requesters can create or change payout plans.")
        plan = selectors.plans_with_lines().filter(pk=pk).first() if pk else None
        if pk and plan is None:
            return refused(request, f"No payout plan #{pk}.")
        initial, lines = None, None
        if plan is not None:
            current = plan.pending_change or services.plan_as_json(services.plan_current(plan))
            initial = {f: current[f] for f in PlanForm.base_fields}
            lines = [{"recipient": line["recipient"], "amount": line["amount"]} for line in current["lines"]]
        form = PlanForm(request.POST or None, initial=initial)
        formset = LineFormSet(request.POST or None, initial=lines, prefix="lines")
        if request.method == "POST" and form.is_valid() and formset.is_valid():
            values = {**form.cleaned_data, "lines": [
                {"recipient": row["recipient"].pk, "amount": row["amount"]}
                for row in formset.cleaned_data if row.get("recipient")]}
            try:
                if plan is None:
                    plan = services.plan_create(created_by=request.user, source=ADMIN, **values)
                    messages.success(request, f"{plan.name} saved: another person must approve it before it runs.")
                else:
                    plan = services.plan_change(plan_id=plan.pk, changed_by=request.user, source=ADMIN, **values)
                    messages.success(request, f"{plan.name}: the change waits for another person's approval." if
                                     plan.pending_change else f"{plan.name} changed; it still waits for approval.")
            except ApplicationError as exc:
                field = exc.code.removeprefix("invalid_")
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                return HttpResponseRedirect(self.url("change", plan.pk))
        return self.page(request, FORM, f"Change {plan.name}" if plan else "New payout plan", form=form,
                         formset=formset, original=plan, submit_label="Save",
                         intro="Each run creates a batch of payouts waiting for approval. A new plan, and any change "
                               "to one, waits for another person's approval; until then runs use the plan as "
                               "approved.")

    def _decide(self, request, pk: int, *, allowed: bool, who: str, verb: str, text: str, call):
        if not allowed:
            return refused(request, f"Only {who} can {verb} payout plans.")
        plan = PayoutPlan.objects.filter(pk=pk).first()
        if plan is None:
            return refused(request, f"No payout plan #{pk}.")
        if request.method == "POST":
            try:
                plan = call(plan_id=pk)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"{plan.name}: {plan.get_status_display().lower()}.")
            return HttpResponseRedirect(self.url("change", pk))
        return self.page(request, CONFIRM, f"{verb.capitalize()} {plan.name}?", original=plan, text=text, fields=[],
                         submit_label=f"Yes, {verb}", cancel_url=self.url("change", pk))

    def approve_view(self, request, pk: int):
        return self._decide(
            request, pk, allowed=can_approve(request), who="payout approvers", verb="approve",
            text="A new plan runs on its schedule from now on; an approved change is used from the next run.",
            call=lambda plan_id: services.plan_approve(plan_id=plan_id, approved_by=request.user, source=ADMIN))

    def pause_view(self, request, pk: int):
        return self._decide(
            request, pk, allowed=can_request(request), who="payout requesters", verb="pause",
            text="No run is created while the plan is paused; resuming does not catch up on the runs missed.",
            call=lambda plan_id: services.plan_pause(plan_id=plan_id, paused_by=request.user, source=ADMIN))

    def resume_view(self, request, pk: int):
        return self._decide(
            request, pk, allowed=can_request(request), who="payout requesters", verb="resume",
            text="The plan runs again from its next occurrence.",
            call=lambda plan_id: services.plan_resume(plan_id=plan_id, resumed_by=request.user, source=ADMIN))

    def reject_view(self, request, pk: int):
        if not can_approve(request):
            return refused(request, "Only payout approvers can reject payout plans.")
        plan = PayoutPlan.objects.filter(pk=pk).first()
        if plan is None:
            return refused(request, f"No payout plan #{pk}.")
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.plan_reject(plan_id=pk, rejected_by=request.user, reason=form.cleaned_data["reason"],
                                     source=ADMIN)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"{plan.name}: rejected.")
                return HttpResponseRedirect(self.url("change", pk))
        return self.page(request, "admin/payments/payout/form_page.html", f"Reject {plan.name}", form=form,
                         original=plan, submit_label="Reject",
                         intro="A new plan never runs; a refused change leaves the plan as approved.")
