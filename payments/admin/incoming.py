"""Incoming payments, and refunding them (a form, a confirmation step, then payment_refund) or reversing them
(one page with the reason, then payment_reverse)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from django.contrib import admin, messages
from django.db.models import Q, Sum
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.console_kit import (
    FastListMixin,
    badge,
    describe_details,
    kes,
    link_to,
    mask_tokens,
    refused,
    table,
    warning_box,
    when,
)
from core.errors import ApplicationError
from core.phone import InvalidPhoneNumber, display_payer_phone, is_hashed_msisdn, normalize_msisdn
from payments import submit_once as submissions
from payments.admin.money_in import check_missed_payments
from payments.forms import RefundForm, add_service_error
from payments.models import AuditEvent, DarajaCallback, EventSource, Payment, PaymentStatus, Payout, PayoutStatus
from payments.payouts.rails import payee_words
from payments.payouts.reversals import payment_reverse, receiving_shortcode, reversal_refusal
from payments.payouts.services import payment_refund, payout_request_precheck, refund_target
from payments.roles import can_request


def _normalised(phone: str) -> str:
    try:
        return normalize_msisdn(phone)
    except InvalidPhoneNumber:
        return ""


@admin.register(Payment)
class PaymentAdmin(FastListMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "receipt",
        "status_badge",
        "amount_kes",
        "refunded_kes",
        "masked_phone",
        "payer_name",
        "account_reference",
        "created_at",
    ]
    list_display_links = ["id", "receipt"]
    list_filter = ["status", "source", ("created_at", admin.DateFieldListFilter)]
    date_hierarchy = "created_at"
    sortable_by = ["id", "created_at"]
    search_fields = ["=receipt"]  # the real search is get_search_results
    search_help_text = "Receipt, phone (any format), account reference, CheckoutRequestID, or #id."
    actions = ["refund"]
    change_form_template = "admin/payments/payment/change_form.html"
    fieldsets = [
        (
            "Payment",
            {
                "fields": [
                    "receipt",
                    "status_badge",
                    "source",
                    "payer_phone",
                    "payer_name",
                    "account_reference",
                    "description",
                    "transaction_time",
                ]
            },
        ),
        ("Money", {"fields": ["paid", "refunded", "refunds_paid", "refundable", "refunds_table"]}),
        ("Daraja", {"fields": ["checkout_request_id", "merchant_request_id", "result_code", "result_description"]}),
        ("History, oldest first", {"fields": ["events_table", "callbacks_table"]}),
        ("Times", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_request_permission(self, request) -> bool:
        return can_request(request)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.startswith("#") and term[1:].isdigit():
            return queryset.filter(pk=int(term[1:])), False
        query = Q(receipt=term.upper()) | Q(phone=term) | Q(account_reference=term) | Q(checkout_request_id=term)
        if is_hashed_msisdn(term):
            # A hashed MSISDN is found by its hash, in either case; it is never read as a phone number.
            return queryset.filter(Q(phone=term.lower()) | Q(phone=term.upper())), False
        phone = _normalised(term)
        if phone:
            query |= Q(phone=phone)
        return queryset.filter(query), False

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Payment) -> str:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="Phone")
    def masked_phone(self, obj: Payment) -> str:
        return display_payer_phone(obj.phone)

    @admin.display(description="Phone")
    def payer_phone(self, obj: Payment) -> str:
        if is_hashed_msisdn(obj.phone):
            return f"SHA-256 hash of the payer's number (not a phone number): {obj.phone}"
        return obj.phone

    @admin.display(description="Amount")
    def amount_kes(self, obj: Payment) -> str:
        return kes(obj.amount)

    @admin.display(description="Refunded")
    def refunded_kes(self, obj: Payment) -> str:
        return kes(obj.refunded_amount)

    @admin.display(description="Paid")
    def paid(self, obj: Payment) -> str:
        return kes(obj.amount)

    @admin.display(description="Refunded (paid out or waiting)")
    def refunded(self, obj: Payment) -> str:
        return kes(obj.refunded_amount)

    @admin.display(description="Refundable now")
    def refundable(self, obj: Payment) -> str:
        return kes(obj.refundable_amount)

    @admin.display(description="Refunds paid out")
    def refunds_paid(self, obj: Payment) -> str:
        paid = obj.refunds.filter(status=PayoutStatus.COMPLETED).aggregate(total=Sum("amount"))["total"]
        return kes(paid or Decimal("0.00"))

    @admin.display(description="Refunds")
    def refunds_table(self, obj: Payment) -> str:
        rows = [
            (
                link_to(Payout, refund.pk, f"#{refund.pk}"),
                badge(refund.status, refund.get_status_display()),
                kes(refund.amount),
                format_html("{} {}", refund.phone, warning_box("not the number that paid"))
                if refund.phone_differs_from_payment
                else (refund.phone or payee_words(refund.rail)),
                refund.requested_by,
                when(refund.created_at),
                refund.reason,
            )
            for refund in obj.refunds.select_related("requested_by").order_by("created_at", "pk")
        ]
        return table(["Payout", "Status", "Amount", "To", "Requested by", "When", "Reason"], rows, empty="No refunds.")

    @admin.display(description="Events")
    def events_table(self, obj: Payment) -> str:
        rows = [
            (
                link_to(AuditEvent, event.pk, when(event.created_at)),
                event.action,
                event.actor_label,
                event.get_source_display(),
                link_to(DarajaCallback, event.callback_id) if event.callback_id else "",
                describe_details(event.details),
            )
            for event in obj.events.select_related("actor").order_by("created_at", "id")
        ]
        return table(["When", "Action", "By", "Source", "Callback", "Details"], rows)

    @admin.display(description="Callbacks")
    def callbacks_table(self, obj: Payment) -> str:
        rows = [
            (
                link_to(DarajaCallback, callback.pk, when(callback.received_at)),
                callback.get_kind_display(),
                badge(callback.outcome, callback.get_outcome_display()),
                callback.result_code,
                mask_tokens(callback.path),
            )
            for callback in obj.callbacks.order_by("received_at", "id")
        ]
        return table(["Received", "Kind", "Outcome", "Result", "Path"], rows, empty="No callbacks.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = dict(extra_context or {})
        payment = self.get_object(request, object_id)
        if payment is not None and can_request(request) and payment.refundable_amount >= 1:
            context["refund_url"] = reverse("admin:payments_payment_refund", args=(payment.pk,))
        if payment is not None and can_request(request) and not reversal_refusal(payment):
            context["reverse_url"] = reverse("admin:payments_payment_reverse", args=(payment.pk,))
        return super().change_view(request, object_id, form_url, extra_context=context)

    # --- refunds ------------------------------------------------------------------------------------

    def get_urls(self):
        custom = [
            path(
                "<int:object_id>/refund/", self.admin_site.admin_view(self.refund_view), name="payments_payment_refund"
            ),
            path(
                "<int:object_id>/reverse/", self.admin_site.admin_view(self.reverse_view),
                name="payments_payment_reverse",
            ),
            path("check-missed/", self.admin_site.admin_view(check_missed_payments),
                 name="payments_payment_check_missed"),  # fmt: skip
        ]
        return custom + super().get_urls()

    @admin.action(description="Refund the selected payment…", permissions=["request"])
    def refund(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            messages.error(request, "Refund one payment at a time.")
            return None
        return HttpResponseRedirect(reverse("admin:payments_payment_refund", args=(ids[0],)))

    def refund_view(self, request, object_id: int):
        payment = get_object_or_404(Payment, pk=object_id)
        if not can_request(request):
            return refused(request, "Only payout requesters can request refunds.")
        if request.method == "POST" and "confirm" in request.POST:
            # A second click of "Yes" is answered with the refund the first made, before any check it would fail.
            earlier = submissions.submitted_earlier(
                user=request.user, form="refund", nonce=request.POST.get(submissions.NONCE_FIELD, "")
            )
            if earlier:
                messages.info(request, "This refund was requested already: here is its payout.")
                return HttpResponseRedirect(earlier)
        change_url = reverse("admin:payments_payment_change", args=(payment.pk,))
        if payment.status != PaymentStatus.COMPLETED or payment.refundable_amount < 1:
            messages.error(
                request,
                f"Payment {payment.receipt or payment.pk} has nothing left to refund "
                f"(status {payment.get_status_display().lower()}, refundable "
                f"{kes(payment.refundable_amount)}).",
            )
            return HttpResponseRedirect(change_url)
        remainder = payment.refundable_amount.quantize(Decimal("1"), rounding=ROUND_DOWN)
        if request.method != "POST":
            return self._refund_page(request, payment, RefundForm(initial={"amount": remainder}))
        form = RefundForm(request.POST)
        if not form.is_valid() or "edit" in request.POST:
            return self._refund_page(request, payment, form)
        data = form.cleaned_data
        try:
            # Where it goes (the number given, else the one that paid) and the amount (remainder, whole
            # shillings, limits) are checked here, at "Continue", not only after the confirmation;
            # payment_refund checks it all again under the payment's lock.
            target, differs = refund_target(payment=payment, phone=data["phone"])
            payout_request_precheck(phone=target, amount=data["amount"], payment=payment)
        except ApplicationError as exc:
            add_service_error(form, exc)
            return self._refund_page(request, payment, form)
        if "confirm" not in request.POST:
            return TemplateResponse(
                request,
                "admin/payments/payment/refund_confirmation.html",
                {
                    **self._context(request, payment, f"Confirm the refund of {payment.receipt or payment.pk}"),
                    "form": form,
                    "amount": data["amount"],
                    "reason": data["reason"],
                    "phone": data["phone"],
                    "target": target,
                    "paid_from": payment.phone,
                    "differs": differs,
                    "form_nonce": submissions.new_nonce(),
                },
            )
        try:
            submitted = submissions.submit_once(
                user=request.user,
                form="refund",
                nonce=request.POST.get(submissions.NONCE_FIELD, ""),
                create=lambda: payment_refund(
                    payment_id=payment.pk,
                    requested_by=request.user,
                    reason=data["reason"],
                    amount=data["amount"],
                    phone=data["phone"] or None,
                    source=EventSource.ADMIN,
                ),
                url_of=lambda payout: reverse("admin:payments_payout_change", args=(payout.pk,)),
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
            return self._refund_page(request, payment, form)
        if submitted.created is None:
            messages.info(request, "This refund was requested already: here is its payout.")
            return HttpResponseRedirect(submitted.url)
        payout = submitted.created
        note = " It goes to another number than the one that paid." if payout.phone_differs_from_payment else ""
        messages.success(
            request, f"Refund of {kes(payout.amount)} requested as payout #{payout.pk}; it waits for approval.{note}"
        )
        return HttpResponseRedirect(reverse("admin:payments_payout_change", args=(payout.pk,)))

    # --- reversals -----------------------------------------------------------------------------------

    def reverse_view(self, request, object_id: int):
        """The *Reverse* action: the payment's whole amount, a reason, one confirmation; payment_reverse checks
        everything under the payment's lock and refuses with the reason."""
        payment = get_object_or_404(Payment, pk=object_id)
        if not can_request(request):
            return refused(request, "Only payout requesters can request reversals.")
        reason, error = request.POST.get("reason", "").strip(), ""
        if request.method == "POST" and "confirm" in request.POST:
            try:
                submitted = submissions.submit_once(
                    user=request.user,
                    form="reverse",
                    nonce=request.POST.get(submissions.NONCE_FIELD, ""),
                    create=lambda: payment_reverse(payment_id=payment.pk, requested_by=request.user, reason=reason,
                                                   source=EventSource.ADMIN),
                    url_of=lambda payout: reverse("admin:payments_payout_change", args=(payout.pk,)),
                )
            except ApplicationError as exc:
                error = exc.message
            else:
                if submitted.created is not None:
                    messages.success(request, f"Reversal of {kes(payment.amount)} requested as payout "
                                              f"#{submitted.created.pk}; it waits for approval.")
                else:
                    messages.info(request, "This reversal was requested already: here is its payout.")
                return HttpResponseRedirect(submitted.url)
        elif reversal_refusal(payment):
            messages.error(request, reversal_refusal(payment))
            return HttpResponseRedirect(reverse("admin:payments_payment_change", args=(payment.pk,)))
        return TemplateResponse(
            request,
            "admin/payments/payment/reverse_form.html",
            {
                **self._context(request, payment, f"Reverse payment {payment.receipt or payment.pk}"),
                "shortcode": receiving_shortcode(payment),
                "reason": reason,
                "error": error,
                "form_nonce": submissions.new_nonce(),
            },
        )

    def _context(self, request, payment: Payment, title: str) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "original": payment,
            "payment": payment,
            "change_url": reverse("admin:payments_payment_change", args=(payment.pk,)),
        }

    def _refund_page(self, request, payment: Payment, form: RefundForm) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/payments/payment/refund_form.html",
            {
                **self._context(request, payment, f"Refund payment {payment.receipt or payment.pk}"),
                "form": form,
                "submit_label": "Continue",
            },
        )
