"""What the ledger tells the rest of the system. Sent inside the transaction that made the change, so a
receiver that writes rows (the notifications outbox) commits or rolls back with it.
Receivers must not raise: `notifications` wraps its own work in a savepoint.
"""

from django.dispatch import Signal

# payout, event (AuditEvent), old_status ("" at creation), new_status
payout_status_changed = Signal()
# payment, event (AuditEvent): a completed incoming payment
payment_received = Signal()
# balance (FloatBalance)
float_updated = Signal()
# callback (DarajaCallback): a request refused at the door (IP, token, size)
callback_rejected = Signal()
# A stored callback whose processing failed CALLBACK_REPROCESS_MAX_ATTEMPTS times: a person must look.
callback_failed = Signal()
# device (a django-otp device), event (AuditEvent): a second factor added or removed (payments/devices.py)
second_factor_changed = Signal()
# credential_set (DarajaCredentialSet): M-Pesa refused its operator twice in a row; sends stop
# (payments/payouts/operator_health.py). Sent once per time the set goes down.
operator_down = Signal()
