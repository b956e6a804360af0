"""The payouts ledger, by sub-domain: money in (incoming), money out (payouts, and the totals triggers keep of
them), every Daraja callback (callbacks), the append-only audit trail (audit), float readings (floats), and what
the console and API keep (finance jobs, credential sets, form submissions, idempotency records).

Money is Decimal with two places. Every model, enum and status set is re-exported here, so code imports
`from payments.models import X` and does not need to know which module holds X; the app label, table names
and migrations are those of the single models.py this package replaced.
"""

from payments.models.approval_rules import ApprovalRule, ApprovalSource
from payments.models.audit import AppendOnlyError, AuditAction, AuditEvent, EventSource
from payments.models.callbacks import CallbackKind, CallbackOutcome, DarajaCallback
from payments.models.credentials import DarajaCredentialSet
from payments.models.finance import FinanceJob, FinanceJobKind, FinanceJobStatus
from payments.models.floats import FloatBalance, FloatBalanceQuerySet, FloatSource
from payments.models.idempotency import IdempotencyRecord
from payments.models.incoming import (
    Payment,
    PaymentSource,
    PaymentStatus,
    PaymentStatusWriteRefused,
    PullFinding,
    PullFindingKind,
    PullRun,
    PullTrigger,
    payment_status_door,
)
from payments.models.money import MONEY
from payments.models.payout_totals import PaymentReportDay, PayoutDay, PayoutReportDay, SentHour
from payments.models.payouts import (
    BUSINESS_RAILS,
    EDITABLE_STATUSES,
    FINAL_STATUSES,
    IN_FLIGHT_STATUSES,
    NO_CALLER_ID_RAILS,
    PHONE_RAILS,
    RELEASED_STATUSES,
    SENT_STATUSES,
    SUBMITTED_STATUSES,
    UNSETTLED_STATUSES,
    CommandID,
    NameCheckStatus,
    Payout,
    PayoutApproval,
    PayoutBatch,
    PayoutControl,
    PayoutEditor,
    PayoutKind,
    PayoutNote,
    PayoutRail,
    PayoutReview,
    PayoutStatus,
    new_originator_conversation_id,
)
from payments.models.plans import PayoutPlan, PayoutPlanLine, PayoutPlanRun, PayoutPlanStatus, PlanFrequency
from payments.models.recipients import (
    RECIPIENT_RAILS,
    Recipient,
    RecipientImport,
    RecipientStatus,
)
from payments.models.submissions import FormSubmission
from payments.models.tariffs import TariffBand, TariffGroup

__all__ = [
    "BUSINESS_RAILS",
    "EDITABLE_STATUSES",
    "FINAL_STATUSES",
    "IN_FLIGHT_STATUSES",
    "MONEY",
    "NO_CALLER_ID_RAILS",
    "PHONE_RAILS",
    "RECIPIENT_RAILS",
    "RELEASED_STATUSES",
    "SENT_STATUSES",
    "SUBMITTED_STATUSES",
    "UNSETTLED_STATUSES",
    "AppendOnlyError",
    "ApprovalRule",
    "ApprovalSource",
    "AuditAction",
    "AuditEvent",
    "CallbackKind",
    "CallbackOutcome",
    "CommandID",
    "NameCheckStatus",
    "DarajaCallback",
    "DarajaCredentialSet",
    "EventSource",
    "FinanceJob",
    "FinanceJobKind",
    "FinanceJobStatus",
    "FloatBalance",
    "FloatBalanceQuerySet",
    "FloatSource",
    "FormSubmission",
    "TariffBand",
    "TariffGroup",
    "IdempotencyRecord",
    "Payment",
    "PaymentReportDay",
    "PaymentSource",
    "PaymentStatus",
    "PaymentStatusWriteRefused",
    "PullFinding",
    "PullFindingKind",
    "PullRun",
    "PullTrigger",
    "Payout",
    "PayoutApproval",
    "PayoutBatch",
    "PayoutControl",
    "PayoutDay",
    "PayoutReportDay",
    "PayoutEditor",
    "PayoutKind",
    "PayoutNote",
    "PayoutPlan",
    "PayoutPlanLine",
    "PayoutPlanRun",
    "PayoutPlanStatus",
    "PayoutRail",
    "PayoutReview",
    "PayoutStatus",
    "PlanFrequency",
    "Recipient",
    "RecipientImport",
    "RecipientStatus",
    "SentHour",
    "new_originator_conversation_id",
    "payment_status_door",
]
