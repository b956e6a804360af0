"""The recipients' console: the list (search by name, reference, phone or number), its approval queue
(`?awaiting=me`, beside the payouts'), a Pay button on each active recipient, and the CSV import (upload ->
preview -> save, then an approver approves the import). Every change is a call to payments/recipients/; the
change page itself is read-only, so nothing reaches a Recipient row but through its services."""

from __future__ import annotations

import io
import secrets
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.console_kit import (
    AdminPagesMixin,
    RowResult,
    ServiceWrittenMixin,
    badge,
    kes,
    refused,
    report_rows,
    table,
    when,
)
from core.errors import ApplicationError
from core.money import MONEY
from payments.audit_sentences import event_sentence
from payments.forms import RejectForm
from payments.models import RECIPIENT_RAILS, CommandID, EventSource, Recipient, RecipientImport, RecipientStatus
from payments.payouts import bulk
from payments.payouts.rails import payee_words
from payments.recipients import imports, services
from payments.recipients.paying import recipient_payout_request
from payments.roles import VIEW_PAYOUTS, can_approve, can_request

ADMIN = EventSource.ADMIN
FORM_PAGE = "admin/payments/payout/form_page.html"
IMPORTS_KEY = "payments.recipient_imports"


class RecipientForm(forms.Form):
    name = forms.CharField(max_length=150)
    rail = forms.ChoiceField(label="Paid by", choices=[(r.value, r.label) for r in RECIPIENT_RAILS])
    phone = forms.CharField(max_length=20, required=False, help_text="M-Pesa number and Pochi: the phone.")
    party_b = forms.CharField(label="Paybill or till number", max_length=12, required=False)
    account_reference = forms.CharField(max_length=13, required=False, help_text="Paybill: the account.")
    external_reference = forms.CharField(max_length=100, required=False,
                                         help_text="Your own id for them; the bulk file names them by it.")
    category = forms.CharField(max_length=30, required=False, help_text="e.g. trainer, supplier, client")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class PayForm(forms.Form):
    amount = forms.DecimalField(**MONEY, min_value=Decimal("0.01"))
    remarks = forms.CharField(min_length=2, max_length=100, help_text="Sent to M-Pesa (2-100 characters).")
    occasion = forms.CharField(max_length=100, required=False)
    command_id = forms.ChoiceField(label="Payment type (M-Pesa number only)", choices=CommandID.choices,
                                   initial=CommandID.BUSINESS_PAYMENT)


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Columns: name, rail, phone, party_b, account_reference, "
                           "external_reference, category, notes (a header row first).")
    name = forms.CharField(max_length=150, required=False, help_text="The import's name; the file's if blank.")


class AwaitingMyApproval(admin.SimpleListFilter):
    """`?awaiting=me`: recipients pending approval that the signed-in person may approve."""

    title = "waiting for"
    parameter_name = "awaiting"

    def lookups(self, request, model_admin):
        return [("me", "my approval")]

    def queryset(self, request, queryset):
        if self.value() != "me":
            return queryset
        me = request.user.pk
        return queryset.filter(status=RecipientStatus.PENDING_APPROVAL).exclude(
            Q(created_by_id=me) | Q(payee_set_by_id=me))


def _buttons(links: list[tuple[str, str]]) -> str:
    return format_html_join(" ", '<a class="button" href="{}">{}</a>', ((url, label) for label, url in links))


def _error(form, exc: ApplicationError) -> None:
    field = exc.code.removeprefix("invalid_")
    form.add_error(field if field in form.fields else None, exc.message)


class PayoutViewersMixin:
    """Seen by whoever may see payouts (either payout role)."""

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(VIEW_PAYOUTS)

    def has_module_permission(self, request) -> bool:
        return request.user.has_perm(VIEW_PAYOUTS)


@admin.register(Recipient)
class RecipientAdmin(AdminPagesMixin, PayoutViewersMixin, ServiceWrittenMixin, admin.ModelAdmin):
    """Saved recipients: the "new" page calls recipient_create, the actions and pages the other services."""

    list_display = ("name", "external_reference", "category", "paid_as", "status_badge", "approved_by", "pay")
    list_filter = (AwaitingMyApproval, "status", "rail", "category")
    search_fields = ("name", "external_reference", "phone", "party_b", "category")
    readonly_fields = ("name", "external_reference", "category", "notes", "paid_as", "status", "created_by",
                       "created_at", "payee_set_by", "approved_by", "approved_at", "archived_at", "archived_reason",
                       "source_import", "actions_links", "history")
    fields = readonly_fields
    actions = ["approve_selected", "archive_selected"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not can_approve(request):
            actions.pop("approve_selected", None)
        if not can_request(request):
            actions.pop("archive_selected", None)
        return actions

    @admin.display(description="paid as")
    def paid_as(self, obj: Recipient) -> str:
        return payee_words(**obj.payee())

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Recipient) -> str:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="")
    def pay(self, obj: Recipient) -> str:
        if obj.status != RecipientStatus.ACTIVE:
            return ""
        return format_html('<a class="button" href="{}">Pay</a>', self.url("pay", obj.pk))

    @admin.display(description="Do")
    def actions_links(self, obj: Recipient) -> str:
        links = [("Change", self.url("edit", obj.pk))] if obj.status != RecipientStatus.ARCHIVED else []
        if obj.status == RecipientStatus.PENDING_APPROVAL:
            links.append(("Reject", self.url("reject", obj.pk)))
        if obj.status == RecipientStatus.ACTIVE:
            links.append(("Pay", self.url("pay", obj.pk)))
        return _buttons(links)

    @admin.display(description="History")
    def history(self, obj: Recipient) -> str:
        rows = []
        for event in obj.events.select_related("actor", "payout").order_by("pk"):
            what = event_sentence(event)
            if event.details.get("old_payee"):
                what += f" (was {event.details['old_payee']}, now {event.details['new_payee']})"
            if event.payout_id:
                what += f" (payout #{event.payout_id}, {kes(event.payout.amount)})"
            if event.details.get("reason"):
                what += f": {event.details['reason']}"
            rows.append((when(event.created_at), what))
        return table(["When", "What"], rows, empty="No events.")

    def get_urls(self):
        own = [
            path("new/", self.admin_site.admin_view(self.edit_view), name="payments_recipient_new"),
            path("<int:pk>/edit/", self.admin_site.admin_view(self.edit_view), name="payments_recipient_edit"),
            path("<int:pk>/reject/", self.admin_site.admin_view(self.reject_view), name="payments_recipient_reject"),
            path("<int:pk>/pay/", self.admin_site.admin_view(self.pay_view), name="payments_recipient_pay"),
            path("import/", self.admin_site.admin_view(self.import_view), name="payments_recipient_import"),
        ]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        links = [("Approval queue", f"{self.url('changelist')}?awaiting=me")]
        if can_request(request):
            links = [("New recipient", self.url("new")), ("Import a CSV", self.url("import")), *links]
        return super().changelist_view(request, {**(extra_context or {}), "subtitle": _buttons(links)})

    # --- new and change --------------------------------------------------------------------------

    def edit_view(self, request, pk: int | None = None):
        if not can_request(request):
            return refused(request, "Only payout requesters can save or change recipients.")
        recipient = Recipient.objects.filter(pk=pk).first() if pk else None
        if pk and recipient is None:
            return refused(request, f"No recipient #{pk}.")
        initial = {f: getattr(recipient, f) for f in RecipientForm.base_fields} if recipient else None
        form = RecipientForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if recipient is None:
                    recipient = services.recipient_create(created_by=request.user, source=ADMIN, **data)
                    messages.success(request, f"{recipient.name} saved: another person must approve it.")
                else:
                    changed = {f: v for f, v in data.items() if getattr(recipient, f) != v}
                    recipient = services.recipient_change(recipient_id=recipient.pk, changed_by=request.user,
                                                          source=ADMIN, **changed)
                    messages.success(request, f"{recipient.name}: {recipient.get_status_display().lower()}.")
            except ApplicationError as exc:
                _error(form, exc)
            else:
                return HttpResponseRedirect(self.url("change", recipient.pk))
        return self.page(request, FORM_PAGE, f"Change {recipient.name}" if recipient else "New recipient",
                         form=form, original=recipient, submit_label="Save",
                         intro="A new recipient, or a change to how one is paid (rail, phone, number, account), "
                               "waits for another person's approval; until then it cannot be paid.")

    # --- four eyes ------------------------------------------------------------------------------

    @admin.action(description="Approve the selected recipients")
    def approve_selected(self, request, queryset):
        results = []
        for recipient_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                services.recipient_approve(recipient_id=recipient_id, approved_by=request.user, source=ADMIN)
                results.append(RowResult(recipient_id, True, "approved: it can be paid."))
            except ApplicationError as exc:
                results.append(RowResult(recipient_id, False, exc.message))
        report_rows(request, results, label="Recipient")

    @admin.action(description="Archive the selected recipients")
    def archive_selected(self, request, queryset):
        results = []
        for recipient_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                services.recipient_archive(recipient_id=recipient_id, archived_by=request.user, source=ADMIN)
                results.append(RowResult(recipient_id, True, "archived."))
            except ApplicationError as exc:
                results.append(RowResult(recipient_id, False, exc.message))
        report_rows(request, results, label="Recipient")

    def reject_view(self, request, pk: int):
        if not can_approve(request):
            return refused(request, "Only payout approvers can reject recipients.")
        recipient = Recipient.objects.filter(pk=pk).first()
        if recipient is None:
            return refused(request, f"No recipient #{pk}.")
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.recipient_reject(recipient_id=pk, rejected_by=request.user,
                                          reason=form.cleaned_data["reason"], source=ADMIN)
            except ApplicationError as exc:
                _error(form, exc)
            else:
                messages.success(request, f"{recipient.name}'s details were rejected.")
                return HttpResponseRedirect(self.url("change", pk))
        return self.page(request, FORM_PAGE, f"Reject {recipient.name}'s details", form=form, original=recipient,
                         submit_label="Reject", intro="A new recipient is archived; a changed one goes back to the "
                                                      "details last approved.")

    # --- pay ------------------------------------------------------------------------------------

    def pay_view(self, request, pk: int):
        if not can_request(request):
            return refused(request, "Only payout requesters can request payouts.")
        recipient = Recipient.objects.filter(pk=pk).first()
        if recipient is None:
            return refused(request, f"No recipient #{pk}.")
        form = PayForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                payout = recipient_payout_request(recipient_id=pk, requested_by=request.user, source=ADMIN,
                                                  **form.cleaned_data)
            except ApplicationError as exc:
                _error(form, exc)
            else:
                messages.success(request, f"Payout #{payout.pk} of {kes(payout.amount)} to {recipient.name} "
                                          "requested; it waits for approval.")
                return HttpResponseRedirect(reverse("admin:payments_payout_change", args=(payout.pk,)))
        return self.page(request, FORM_PAGE, f"Pay {recipient.name}", form=form, original=recipient,
                         submit_label="Request the payout",
                         intro=f"Paid as {payee_words(**recipient.payee())}. The payout waits for approval like "
                               "any other.")

    # --- import ---------------------------------------------------------------------------------

    def import_view(self, request):
        if not can_request(request):
            return refused(request, "Only payout requesters can import recipients.")
        form = ImportForm(request.POST or None, request.FILES or None)
        token = request.POST.get("token", "")
        stored = request.session.get(IMPORTS_KEY, {}).get(token) if token else None
        if stored is not None:
            return self._import_save(request, token, stored)
        if request.method == "POST" and form.is_valid():
            try:
                text = bulk.decoded(form.cleaned_data["file"].read(bulk.MAX_BYTES + 1))
                preview = imports.recipients_import_preview(uploaded_by=request.user, file=io.StringIO(text))
            except ApplicationError as exc:
                form.add_error("file", exc.message)
            else:
                token = secrets.token_urlsafe(12)
                request.session[IMPORTS_KEY] = {token: {"text": text, "name": form.cleaned_data["name"] or
                                                        form.cleaned_data["file"].name}}
                return self.page(request, "admin/payments/recipient/import_preview.html", "Check the import",
                                 preview=preview, token=token)
        return self.page(request, FORM_PAGE, "Import recipients (CSV)", form=form, submit_label="Check the file",
                         intro="Nothing is saved until you confirm the preview; each recipient then waits for "
                               "another person's approval.")

    def _import_save(self, request, token: str, stored: dict):
        request.session[IMPORTS_KEY] = {}  # saved once: a second confirm finds no file
        try:
            batch, preview = imports.recipients_import_create(
                uploaded_by=request.user, file=io.StringIO(stored["text"]), name=stored["name"], source=ADMIN)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self.url("import"))
        if batch is None:
            messages.warning(request, "No row was valid: nothing was saved.")
            return HttpResponseRedirect(self.url("import"))
        messages.success(request, f"{len(preview.rows)} recipients saved (import #{batch.pk}); "
                                  f"{len(preview.errors)} rows refused. Each waits for another person's approval.")
        return HttpResponseRedirect(reverse("admin:payments_recipientimport_change", args=(batch.pk,)))


@admin.register(RecipientImport)
class RecipientImportAdmin(PayoutViewersMixin, ServiceWrittenMixin, admin.ModelAdmin):
    list_display = ("name", "uploaded_by", "created_at", "saved", "pending")
    readonly_fields = ("name", "uploaded_by", "file_name", "created_at", "saved", "pending", "refused")
    fields = readonly_fields
    actions = ["approve_imports"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not can_approve(request):
            actions.pop("approve_imports", None)
        return actions

    @admin.display(description="recipients")
    def saved(self, obj: RecipientImport) -> int:
        return obj.recipients.count()

    @admin.display(description="pending approval")
    def pending(self, obj: RecipientImport) -> str:
        count = obj.recipients.filter(status=RecipientStatus.PENDING_APPROVAL).count()
        url = reverse("admin:payments_recipient_changelist")
        return format_html('<a href="{}?source_import__id__exact={}&status__exact=pending_approval">{}</a>',
                           url, obj.pk, count)

    @admin.display(description="refused rows")
    def refused(self, obj: RecipientImport) -> str:
        return "; ".join(f"line {row['line']}: {row['problem']}" for row in obj.refused_rows) or "None"

    @admin.action(description="Approve every recipient pending in the selected imports")
    def approve_imports(self, request, queryset):
        results = []
        for import_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                count = imports.recipients_import_approve(import_id=import_id, approved_by=request.user,
                                                          source=ADMIN)
                results.append(RowResult(import_id, True, f"{count} recipients approved."))
            except ApplicationError as exc:
                results.append(RowResult(import_id, False, exc.message))
        report_rows(request, results, label="Import")
