"""C2B confirmations and validations: money a customer sent to our paybill or till on their own."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from core.field_widths import truncate_to
from daraja import callbacks as parse
from ledger.services.money import payment_received_post
from payments.audit_events import event_record
from payments.callbacks.handlers.common import SOURCE, Handled, link
from payments.models import AuditAction, CallbackOutcome, DarajaCallback, Payment, PaymentSource, PaymentStatus
from payments.signals import payment_received
from webhooks.services.events import payment_received_webhook


def c2b_confirmation(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    confirmation = parse.parse_c2b(data)
    link(callback, transaction_id=confirmation.transaction_id)
    existing = Payment.objects.filter(receipt=confirmation.transaction_id).first()
    if existing:
        callback.payment = existing
        return Handled(CallbackOutcome.DUPLICATE)
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                source=PaymentSource.C2B,
                status=PaymentStatus.COMPLETED,
                receipt=confirmation.transaction_id,
                phone=confirmation.phone,  # kept as given, even when masked
                amount=confirmation.amount,
                account_reference=confirmation.account_reference,
                payer_name=confirmation.payer_name,
                transaction_time=confirmation.transaction_time,
                description=truncate_to(Payment, "description", confirmation.transaction_type),
            )
    except IntegrityError:
        # Another delivery of the same confirmation won the race.
        callback.payment = Payment.objects.filter(receipt=confirmation.transaction_id).first()
        return Handled(CallbackOutcome.DUPLICATE)
    callback.payment = payment
    event = event_record(
        action=AuditAction.PAYMENT_COMPLETED,
        source=SOURCE,
        payment=payment,
        to_status=payment.status,
        callback=callback,
        details={"receipt": payment.receipt},
    )
    payment_received_post(payment=payment)
    payment_received.send(sender=Payment, payment=payment, event=event)
    payment_received_webhook(payment=payment)  # never raises
    return Handled(CallbackOutcome.PROCESSED)


def c2b_validation(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    return Handled(CallbackOutcome.PROCESSED)
