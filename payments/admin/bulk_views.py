"""The bulk disbursement pages of the payout console: upload -> preview (nothing created) -> confirm (the batch
is created, every row checked again), the refused rows as a file and the CSV template. A mixin of PayoutViews
(payments/admin/payout_views.py), which PayoutAdmin's URLs name."""

from __future__ import annotations

import io
import secrets
from datetime import datetime
from pathlib import PurePath

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from core.console_kit import (
    kes,
    refused,
)
from core.errors import ApplicationError
from core.field_widths import truncate_to
from core.phone import InvalidPhoneNumber, mask_msisdn, normalize_msisdn
from payments import submit_once as submissions
from payments.admin.payout_words import nairobi_minute
from payments.forms import (
    BulkUploadForm,
)
from payments.models import (
    ApprovalSource,
    EventSource,
    PayoutBatch,
    PayoutRail,
    PayoutStatus,
)
from payments.payouts import bulk
from payments.payouts.approval_rules import rule_for
from payments.payouts.limits import latest_float
from payments.payouts.rails import payee_words
from payments.roles import can_request

ADMIN = EventSource.ADMIN
# The most payouts one decision page handles (a CSV batch is at most 1,000 rows).
MAX_PER_DECISION = 1000
QUERYABLE_FROM_ADMIN = (PayoutStatus.VERIFYING, PayoutStatus.NEEDS_REVIEW)



UPLOADS_KEY = "payments.bulk_uploads"
BULK_FORM = "bulk_upload"
SESSION_UPLOADS = 3
ROW_REPORT_MAX = 20


class NamedText(io.StringIO):
    """The stored text of an upload, read as the uploaded file was (with its name)."""

    def __init__(self, text: str, name: str) -> None:
        super().__init__(text)
        self.name = name


def mask_cell_phone(value: str) -> str:
    """A phone from a refused row, masked whether or not it is a valid number."""
    try:
        return mask_msisdn(normalize_msisdn(value))
    except InvalidPhoneNumber:
        text = value.strip()
        if len(text) <= 4:
            return "*" * len(text)
        return text[:3] + "*" * (len(text) - 5) + text[-2:]


def refused_paid_to(error) -> str:
    """Who a refused row would have paid, in its rail's words as far as its cells say (phones masked)."""
    rail = bulk.rail_named(error.cell("rail"))
    phone = mask_cell_phone(error.cell("phone")) if error.cell("phone") else ""
    if rail in (None, PayoutRail.MOBILE):
        return phone
    words = payee_words(rail, phone=phone, party_b=error.cell("party_b"),
                        account_reference=error.cell("account_reference"))  # fmt: skip
    return words.removesuffix(", account ")  # a paybill row refused for want of its account


def upload_send_after(upload: dict) -> datetime | None:
    """The batch's send_after kept with an upload in the session (ISO 8601 text), or None."""
    return datetime.fromisoformat(upload["send_after"]) if upload.get("send_after") else None


def safe_file_name(stem: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in stem)[:80] or "upload"



class BulkUploadViews:
    """The bulk upload's views; PayoutViews mixes them in."""

    # --- bulk disbursement ------------------------------------------------------------------------

    # Upload -> preview (nothing created) -> confirm (the batch is created, every row checked again). The file's
    # text waits in the uploader's session between the two, under a random token; at most SESSION_UPLOADS.

    def _uploads(self, request) -> dict:
        return request.session.get(UPLOADS_KEY, {})

    def _upload(self, request, token: str) -> dict | None:
        return self._uploads(request).get(token) if token else None

    def bulk_upload_view(self, request):
        if not can_request(request):
            return refused(request, "Only payout requesters can upload a bulk disbursement.")
        form = BulkUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            send_after = form.cleaned_data["send_after"]
            raw = upload.read(bulk.MAX_BYTES + 1)
            try:
                text = bulk.decoded(raw)
                preview = bulk.payout_batch_preview(
                    uploaded_by=request.user, file=io.StringIO(text), send_after=send_after
                )
            except ApplicationError as exc:
                form.add_error("send_after" if exc.code == "send_after" else "file", exc.message)
            else:
                token = secrets.token_urlsafe(12)
                uploads = dict(list(self._uploads(request).items())[-(SESSION_UPLOADS - 1) :])
                uploads[token] = {
                    "text": text,
                    "file_name": truncate_to(PayoutBatch, "file_name", PurePath(upload.name or "").name),
                    "name": form.cleaned_data["name"],
                    "command_id": form.cleaned_data["command_id"],
                    "send_after": send_after.isoformat() if send_after else "",
                }
                request.session[UPLOADS_KEY] = uploads
                return self.bulk_preview_page(request, token, uploads[token], preview)
        return self.page(
            request,
            "admin/payments/payout/bulk_upload.html",
            "Upload a bulk disbursement (CSV)",
            form=form,
            submit_label="Check the file",
        )

    def bulk_preview_page(self, request, token: str, upload: dict, preview) -> TemplateResponse:
        refused_rows = []
        by_line: dict[int, list] = {}
        for error in preview.errors:
            by_line.setdefault(error.line, []).append(error)
        for line in sorted(by_line):
            first = by_line[line][0]
            refused_rows.append(
                {
                    "line": line,
                    "paid_to": refused_paid_to(first),
                    "name": first.cell("recipient_name"),
                    "reason": " ".join(error.message for error in by_line[line]),
                }
            )
        first_time = bulk.first_time_lines(preview.rows)
        rows = [
            {
                "line": row.line,
                "first_time": row.line in first_time,
                "paid_to": payee_words(
                    row.rail, phone=mask_msisdn(row.phone) if row.phone else "", party_b=row.party_b,
                    account_reference=row.account_reference,
                ),
                "rail": row.rail,
                "name": row.recipient_name,
                "amount": kes(row.amount),
                "reference": row.recipient_reference,
                "remarks": row.remarks,
                "approvals": rule_for(amount=row.amount, rail=row.rail, source=ApprovalSource.BULK)["approvals"],
                "send_after": nairobi_minute(row.send_after) if row.send_after else "",
            }
            for row in preview.rows
        ]
        reading = latest_float()
        return self.page(
            request,
            "admin/payments/payout/bulk_preview.html",
            "Check the batch before it is created",
            token=token,
            upload=upload,
            rows=rows,
            total=kes(preview.total),
            charges_total=kes(preview.charges_total),
            total_with_charges=kes(preview.total + preview.charges_total),
            two_approvers=[row["line"] for row in rows if row["approvals"] > 1],
            first_time_count=len(first_time),
            threshold=kes(settings.PAYOUT_DUAL_APPROVAL_THRESHOLD),
            # The float the batch will draw on, as last read; the charges are the tariff's (docs/charges.md).
            float_reading=reading,
            float_available=kes(reading.utility_available) if reading else "",
            utility_total=kes(preview.utility_total),
            working_rows=sum(1 for row in preview.rows if row.rail not in (PayoutRail.MOBILE, PayoutRail.POCHI)),
            float_short=kes(preview.utility_total - reading.utility_available)
            if reading and reading.utility_available is not None and preview.utility_total > reading.utility_available
            else "",
            refused_rows=refused_rows,
            batch_send_after=nairobi_minute(preview.send_after) if preview.send_after else "",
            scheduled_by_batch=preview.scheduled_by_batch,
            any_scheduled=any(row["send_after"] for row in rows),
            errors_url=self.url("bulk_errors", token) if refused_rows else "",
            confirm_url=self.url("bulk_confirm"),
        )

    def bulk_confirm_view(self, request):
        if not can_request(request):
            return refused(request, "Only payout requesters can upload a bulk disbursement.")
        upload_url = self.url("bulk_upload")
        if request.method != "POST":
            return HttpResponseRedirect(upload_url)
        token = request.POST.get("token", "")
        # A preview is confirmed once: its token is stored with the batch (a UNIQUE constraint, not the
        # session, which concurrent confirms each read before any of them saves it).
        earlier = submissions.submitted_earlier(user=request.user, form=BULK_FORM, nonce=token)
        if earlier:
            messages.info(request, "This upload was confirmed already: here is its batch.")
            return HttpResponseRedirect(earlier)
        upload = self._upload(request, token)
        if upload is None:
            messages.error(
                request,
                "That upload is no longer waiting (confirmed already, or the session ended); upload the file again.",
            )
            return HttpResponseRedirect(upload_url)
        errors: list = []

        def create():
            batch, refused = bulk.payout_batch_create_from_csv(
                uploaded_by=request.user,
                file=NamedText(upload["text"], upload["file_name"]),
                source=ADMIN,
                name=upload["name"],
                command_id=upload["command_id"],
                send_after=upload_send_after(upload),
            )
            errors.extend(refused)
            return batch

        try:
            submitted = submissions.submit_once(
                user=request.user,
                form=BULK_FORM,
                nonce=token,
                create=create,
                url_of=lambda batch: reverse("admin:payments_payoutbatch_change", args=(batch.pk,)),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(upload_url)
        uploads = self._uploads(request)
        uploads.pop(token, None)
        request.session[UPLOADS_KEY] = uploads
        if submitted.url and submitted.created is None:
            messages.info(request, "This upload was confirmed already: here is its batch.")
            return HttpResponseRedirect(submitted.url)
        batch = submitted.created
        if batch is None:
            messages.error(request, "No row could be created; nothing was created. Fix the rows and upload again.")
            return HttpResponseRedirect(upload_url)
        count = batch.payouts.count()
        made = "1 payout" if count == 1 else f"{count} payouts"
        messages.success(request, f"Batch “{batch}” created with {made} waiting for approval.")
        if errors:
            lines = len({error.line for error in errors})
            messages.warning(
                request,
                f"{lines} row(s) were not created: the batch page below lists them with their reasons under "
                "“Refused rows”, and offers them as a file to fix and upload again.",
            )
            for error in errors[:ROW_REPORT_MAX]:
                messages.error(request, str(error))
        return HttpResponseRedirect(reverse("admin:payments_payoutbatch_change", args=(batch.pk,)))

    def bulk_errors_view(self, request, token: str):
        if not can_request(request):
            return refused(request, "Only payout requesters can upload a bulk disbursement.")
        upload = self._upload(request, token)
        if upload is None:
            messages.error(request, "That upload is no longer waiting; upload the file again.")
            return HttpResponseRedirect(self.url("bulk_upload"))
        try:
            preview = bulk.payout_batch_preview(
                uploaded_by=request.user, file=io.StringIO(upload["text"]), send_after=upload_send_after(upload)
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self.url("bulk_upload"))
        stem = PurePath(upload["file_name"] or "upload.csv").stem or "upload"
        response = HttpResponse(bulk.batch_errors_csv(preview.errors), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{safe_file_name(stem)}-refused-rows.csv"'
        return response

    def bulk_template_view(self, request):
        response = HttpResponse(bulk.TEMPLATE_CSV, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="bulk-disbursement-template.csv"'
        return response

