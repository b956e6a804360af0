"""C2B confirmations: money a customer sent to our paybill or till on their own. The payment is created
completed, through the lifecycle's row from NEW (payment_created)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from core.field_widths import truncate_to
from payments.incoming.lifecycle import Settled, payment_created
from payments.models import AuditAction, CallbackOutcome, DarajaCallback, EventSource, Payment, PaymentSource
from payments.models import PaymentStatus as S


def c2b_confirmation_record(*, callback: DarajaCallback, confirmation) -> Settled:
    """A parsed C2B confirmation recorded as a completed payment, once per receipt, in the callback's
    transaction."""
    existing = Payment.objects.filter(receipt=confirmation.transaction_id).first()
    if existing:
        callback.payment = existing
        return Settled(CallbackOutcome.DUPLICATE)
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                source=PaymentSource.C2B,
                status=S.COMPLETED,
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
        return Settled(CallbackOutcome.DUPLICATE)
    callback.payment = payment
    payment_created(payment=payment, action=AuditAction.PAYMENT_COMPLETED, source=EventSource.CALLBACK,
                    callback=callback, details={"receipt": payment.receipt})  # fmt: skip
    return Settled(CallbackOutcome.PROCESSED)
