"""Finance in the console: exports and statement reconciliations, run by a worker (payments.reconciliation.jobs).

The list of FinanceJobs is the audit of who exported or reconciled what, and when. "Export" and "Reconcile a
statement" are forms on that list; a job's page shows its progress (a static script polls the progress URL;
without scripts the page refreshes itself), then the result and the file to download.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.api_throttles import throttle_wait
from core.console_kit import AdminPagesMixin, ReadOnlyAdminMixin, badge, when
from core.errors import ApplicationError
from payments.models import EventSource, FinanceJob, FinanceJobKind, FinanceJobStatus, Payment, Payout
from payments.reconciliation import jobs as finance
from payments.reconciliation.export import FORMATS, KINDS
from payments.reconciliation.matching import Kind

EXPORT_PERMISSION = "payments.export_ledger"
RECONCILE_PERMISSION = "payments.reconcile_statement"
DISCREPANCY_LABELS = {
    Kind.STATEMENT_ONLY: "In the statement, not ours",
    Kind.OURS_ONLY: "Ours, not in the statement",
    Kind.AMOUNT_MISMATCH: "Amount mismatch",
    Kind.STATUS_MISMATCH: "Status mismatch",
    Kind.DUPLICATE: "Receipt listed twice in the statement",
}
JOB_BADGES = {
    FinanceJobStatus.QUEUED: "pending",
    FinanceJobStatus.RUNNING: "sending",
    FinanceJobStatus.DONE: "completed",
    FinanceJobStatus.FAILED: "failed",
}


class ExportForm(forms.Form):
    start = forms.DateField(label="First day", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="Last day (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(label="What", choices=[(k, k.capitalize()) for k in KINDS], initial="payouts")
    format = forms.ChoiceField(
        label="Format",
        choices=[(f, {"csv": "CSV", "json": "JSON", "xlsx": "Excel (XLSX)"}[f]) for f in FORMATS],
        initial="xlsx",
    )

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", "The last day is before the first.")
        return data


class StatementForm(forms.Form):
    statement = forms.FileField(
        label="Statement file",
        help_text="The M-Pesa org portal statement as downloaded: CSV or XLSX.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )


def job_what(job: FinanceJob) -> str:
    p = job.params
    if job.kind == FinanceJobKind.EXPORT:
        return f"{p.get('kind')} created {p.get('start')} to {p.get('end')} ({str(p.get('format', '')).upper()})"
    return f"statement {p.get('file_name')}"


@admin.register(FinanceJob)
class FinanceJobAdmin(AdminPagesMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "what", "requested_by", "requested", "status_badge", "rows", "download"]
    list_display_links = ["id"]
    list_filter = ["kind", "status"]
    list_select_related = ["requested_by"]
    change_list_template = "admin/payments/financejob/change_list.html"

    # --- permissions -------------------------------------------------------------------------------

    def has_view_permission(self, request, obj=None) -> bool:
        user = request.user
        return (
            user.has_perm(EXPORT_PERMISSION)
            or user.has_perm(RECONCILE_PERMISSION)
            or super().has_view_permission(request, obj)
        )

    def may_run(self, request, job_kind: str) -> bool:
        perm = EXPORT_PERMISSION if job_kind == FinanceJobKind.EXPORT else RECONCILE_PERMISSION
        return request.user.has_perm(perm)

    # --- list columns --------------------------------------------------------------------------------

    @admin.display(description="What")
    def what(self, job: FinanceJob) -> str:
        return job_what(job)

    @admin.display(description="Asked for (Nairobi)")
    def requested(self, job: FinanceJob) -> str:
        return when(job.created_at)

    @admin.display(description="Status")
    def status_badge(self, job: FinanceJob) -> str:
        return badge(JOB_BADGES[job.status], job.get_status_display())

    @admin.display(description="File")
    def download(self, job: FinanceJob) -> str:
        if job.status != FinanceJobStatus.DONE or not job.output_file:
            return "-"
        return format_html('<a href="{}">{}</a>', self.url("download", job.pk), job.output_name)

    # --- pages --------------------------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("export/", wrap(self.export_view), name="payments_financejob_export"),
            path("reconcile/", wrap(self.reconcile_view), name="payments_financejob_reconcile"),
            path("<int:job_id>/progress/", wrap(self.progress_view), name="payments_financejob_progress"),
            path("<int:job_id>/download/", wrap(self.download_view), name="payments_financejob_download"),
            path(
                "<int:job_id>/discrepancies/<int:index>/resolve/",
                wrap(self.resolve_view),
                name="payments_financejob_resolve",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_export": request.user.has_perm(EXPORT_PERMISSION),
            "can_reconcile": request.user.has_perm(RECONCILE_PERMISSION),
        }
        return super().changelist_view(request, extra_context)

    def export_view(self, request):
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied("Exporting needs the “Can export payouts and payments” permission.")
        today = timezone.localdate()
        form = ExportForm(initial={"start": today - timedelta(days=today.day - 1), "end": today})
        status = 200
        if request.method == "POST":
            form = ExportForm(request.POST)
            throttled = self._throttled(request, form)
            if not throttled and form.is_valid():
                data = form.cleaned_data
                try:
                    job = finance.finance_export_request(
                        requested_by=request.user, kind=data["kind"], start=data["start"], end=data["end"],
                        fmt=data["format"],
                    )  # fmt: skip
                except finance.FinanceJobError as exc:
                    form.add_error(None, str(exc))
                else:
                    messages.success(request, f"Export #{job.pk} queued: {job_what(job)}.")
                    return HttpResponseRedirect(reverse("admin:payments_financejob_change", args=(job.pk,)))
            status = 429 if throttled else 400
        response = self.page(
            request, "admin/payments/financejob/export.html", "Export payouts or payments", form=form
        )
        response.status_code = status
        return response

    def reconcile_view(self, request):
        if not request.user.has_perm(RECONCILE_PERMISSION):
            raise PermissionDenied("Reconciling needs the “Can reconcile an M-Pesa statement” permission.")
        form = StatementForm()
        status = 200
        if request.method == "POST":
            form = StatementForm(request.POST, request.FILES)
            throttled = self._throttled(request, form)
            if not throttled and form.is_valid():
                try:
                    job = finance.finance_reconcile_request(
                        requested_by=request.user, upload=form.cleaned_data["statement"]
                    )
                except finance.FinanceJobError as exc:
                    form.add_error("statement", str(exc))
                else:
                    messages.success(request, f"Reconciliation #{job.pk} queued: {job_what(job)}.")
                    return HttpResponseRedirect(reverse("admin:payments_financejob_change", args=(job.pk,)))
            status = 429 if throttled else 400
        response = self.page(
            request, "admin/payments/financejob/reconcile.html", "Reconcile an M-Pesa statement", form=form
        )
        response.status_code = status
        return response

    @staticmethod
    def _throttled(request, form) -> bool:
        """Each export or reconciliation reads the whole ledger or a whole statement on the worker: at most
        `console_job` of them per person (DEFAULT_THROTTLE_RATES, CONSOLE_JOB_THROTTLE)."""
        wait = throttle_wait(request, scope="console_job")
        if wait is None:
            return False
        form.is_valid()  # so the error below is shown with the form as submitted
        form.add_error(None, f"You have asked for many exports and reconciliations just now: try again in {wait} s.")
        return True

    def _job(self, request, job_id) -> FinanceJob:
        if not self.has_view_permission(request):
            raise PermissionDenied("Finance jobs are for those who may export or reconcile.")
        return get_object_or_404(FinanceJob.objects.select_related("requested_by"), pk=job_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        try:
            job = self._job(request, int(object_id))
        except ValueError:
            raise Http404 from None
        progress = finance.job_progress(job)
        summary = job.summary or {}
        discrepancies = []
        for index, d in enumerate(summary.get("discrepancies", [])):
            link = None
            if d.get("our_type") == "payout" and d.get("our_id"):
                link = reverse("admin:payments_payout_change", args=(d["our_id"],))
            elif d.get("our_type") == "payment" and d.get("our_id"):
                link = reverse("admin:payments_payment_change", args=(d["our_id"],))
            resolve_url = reverse("admin:payments_financejob_resolve", args=(job.pk, index))
            label = DISCREPANCY_LABELS.get(d["kind"], d["kind"])
            discrepancies.append({**d, "label": label, "link": link, "resolve_url": resolve_url})
        counts = [(DISCREPANCY_LABELS[k], n) for k, n in summary.get("counts", {}).items() if n]
        return self.page(
            request,
            "admin/payments/financejob/job.html",
            f"{job.get_kind_display()} #{job.pk}",
            job=job,
            what=job_what(job),
            progress=progress,
            progress_url=self.url("progress", job.pk),
            download_url=self.url("download", job.pk) if job.status == FinanceJobStatus.DONE else None,
            summary=summary,
            counts=counts,
            covers=" and ".join(f"{kind}s" for kind in summary.get("covers", [])),
            discrepancies=discrepancies,
            can_resolve=self.may_run(request, FinanceJobKind.RECONCILE),
            models={"payout": Payout, "payment": Payment},
            requested=when(job.created_at),
            finished=when(job.finished_at) if job.finished_at else "",
        )

    def resolve_view(self, request, job_id: int, index: int):
        """Mark a discrepancy resolved with what was found (POST from its row on the job's page)."""
        job_url = reverse("admin:payments_financejob_change", args=(job_id,))
        if request.method != "POST":
            return HttpResponseRedirect(job_url)
        try:
            resolved = finance.statement_discrepancy_resolve(
                job_id=job_id, index=index, note=request.POST.get("note", ""), resolved_by=request.user,
                source=EventSource.ADMIN,
            )  # fmt: skip
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{resolved['receipt']}: marked resolved.")
        return HttpResponseRedirect(job_url)

    def progress_view(self, request, job_id: int):
        return JsonResponse(finance.job_progress(self._job(request, job_id)))

    def download_view(self, request, job_id: int):
        job = self._job(request, job_id)
        if not self.may_run(request, job.kind):
            raise PermissionDenied("Downloading this file needs the permission to run this kind of job.")
        if job.status != FinanceJobStatus.DONE or not job.output_file:
            raise Http404("This job has no file yet.")
        path = finance.job_path(job.output_file)
        if not path.is_file():
            raise Http404("The file is no longer kept.")
        return FileResponse(path.open("rb"), as_attachment=True, filename=job.output_name)
