"""Each audit action as the sentence a person reads in a case file ("{actor}" is who did it).

One mapping for every AuditAction, so a new action cannot reach the payout page as its bare code:
tests/payments/test_audit_sentences.py fails when one has no sentence here. An event's `it` is the thing the
page is about: the payout, the payment, the credential set, the job or the login.
"""

from __future__ import annotations

from payments.models import AuditAction

A = AuditAction

SENTENCES: dict[AuditAction, str] = {
    # A payout's lifecycle.
    A.REQUESTED: "{actor} requested it",
    A.APPROVED: "{actor} approved it: it will be sent",
    A.REJECTED: "{actor} rejected it",
    A.EXPIRED: "it expired without its approvals (PAYOUT_APPROVAL_EXPIRY_MINUTES) and was rejected",
    A.APPROVAL_VOIDED: "{actor} changed it: the approvals given so far were voided",
    A.SENDING: "Claimed by a worker to send to M-Pesa",
    A.SUBMITTED: "M-Pesa accepted the request",
    A.SEND_RETRY: "M-Pesa refused the request before it left; it will be tried again",
    A.OUTCOME_UNKNOWN: "The outcome is unknown; a status query will settle it",
    A.QUEUE_TIMEOUT: "M-Pesa's queue timed out; a status query will settle it",
    A.RESULT_UNKNOWN: "M-Pesa's result does not prove whether money moved; a status query will settle it",
    A.RESULT_FOR_UNSENT_PAYOUT: "A result arrived for a payout we had not sent",
    A.RESULT_MISMATCH: "M-Pesa's result disagrees with the payout: it needs review",
    A.SUCCESS_AFTER_FAILURE: "M-Pesa reports it paid after it was recorded failed: it needs review",
    A.UNANSWERED: "Status queries went unanswered: it needs a person to review it",
    A.COMPLETED: "M-Pesa paid it",
    A.FAILED: "M-Pesa reported that it failed",
    A.REVIEWED: "{actor} reviewed it against the M-Pesa portal",
    # A payout's decisions that leave its status as it is.
    A.APPROVAL: "{actor} approved it; another approval is needed",
    A.EDITED: "{actor} edited it",
    A.HELD: "Held before sending",
    A.STATUS_QUERY: "A Transaction Status query was sent",
    A.REVIEW_RECORDED: "{actor} recorded a review; a second person must confirm it",
    A.REQUESTED_AGAIN: "{actor} requested it again after the earlier payout failed",
    A.RETRIED: "{actor} requested it again as a new payout",
    # Payments.
    A.PAYMENT_COMPLETED: "M-Pesa confirmed the payment",
    A.PAYMENT_FAILED: "M-Pesa reported that the payment failed",
    A.PAYMENT_RESULT_UNKNOWN: "M-Pesa's answer does not prove whether the payment went through",
    A.PUSH_OUTCOME_UNKNOWN: "The payment prompt may have reached the customer; a person checks the statement",
    A.PAYMENT_REVERSED: "M-Pesa reversed the payment",
    A.PAYMENT_RECOVERED: "Pull Transactions found the payment, whose confirmation never came",
    A.STK_QUERY_PAID: "M-Pesa says the customer paid; the receipt is awaited",
    # Recipients.
    A.RECIPIENT_CREATED: "{actor} saved a new recipient; it waits for another person's approval",
    A.RECIPIENT_CHANGED: "{actor} changed the recipient's name, category or notes",
    A.RECIPIENT_PAYEE_CHANGED: "{actor} changed how the recipient is paid: it waits for approval again",
    A.RECIPIENT_APPROVED: "{actor} approved the recipient: it can be paid",
    A.RECIPIENT_REJECTED: "{actor} rejected the recipient's details",
    A.RECIPIENT_ARCHIVED: "{actor} archived the recipient",
    A.RECIPIENTS_IMPORTED: "{actor} imported recipients from a file",
    A.RECIPIENT_PAYOUT_REQUESTED: "{actor} requested it to a saved recipient",
    A.PLAN_CREATED: "{actor} created a payout plan; it waits for another person's approval",
    A.PLAN_CHANGE_PROPOSED: "{actor} proposed a change to the payout plan; it waits for approval",
    A.PLAN_APPROVED: "{actor} approved the payout plan: it runs on its schedule",
    A.PLAN_CHANGE_APPROVED: "{actor} approved the change to the payout plan",
    A.PLAN_REJECTED: "{actor} rejected the payout plan",
    A.PLAN_CHANGE_REJECTED: "{actor} rejected the change to the payout plan",
    A.PLAN_PAUSED: "{actor} paused the payout plan",
    A.PLAN_RESUMED: "{actor} resumed the payout plan",
    A.PLAN_RUN_CREATED: "The payout plan's run created a batch waiting for approval",
    # Controls, credentials, finance jobs.
    A.PAYOUTS_PAUSED: "{actor} paused payouts",
    A.PAYOUTS_RESUMED: "{actor} resumed payouts",
    A.CREDENTIALS_ADDED: "{actor} added Daraja credentials",
    A.APPROVAL_RULE_ADDED: "{actor} added an approval rule",
    A.APPROVAL_RULE_CHANGED: "{actor} changed an approval rule",
    A.APPROVAL_RULE_DELETED: "{actor} deleted an approval rule",
    A.TARIFF_CHANGED: "{actor} changed M-Pesa's tariff table",
    A.CREDENTIALS_CHANGED: "{actor} changed Daraja credentials",
    A.CREDENTIALS_DELETED: "{actor} deleted Daraja credentials",
    A.OPERATOR_REFUSED: "M-Pesa refused the operator credentials that sent it",
    A.OPERATOR_DOWN: "M-Pesa refused the operator credentials twice in a row: sends stopped",
    A.OPERATOR_PROBE_REFUSED: "{actor} tried to reinstate the operator credentials; M-Pesa refused the probe",
    A.OPERATOR_REINSTATED: "{actor} reinstated the operator credentials; sends resumed",
    A.LEDGER_EXPORT_REQUESTED: "{actor} asked for a ledger export",
    A.STATEMENT_RECONCILE_REQUESTED: "{actor} asked for a statement to be reconciled",
    A.STATEMENT_DISCREPANCY_RESOLVED: "{actor} resolved a statement discrepancy",
    A.STATEMENT_POSTINGS_PROPOSED: "{actor} uploaded a statement whose charges and transfers wait for acceptance",
    A.STATEMENT_POSTING_ACCEPTED: "{actor} accepted a statement's posting into the ledger",
    A.STATEMENT_POSTING_REJECTED: "{actor} rejected a statement's posting",
    # Logins and second factors.
    A.LOGIN: "{actor} signed in",
    A.LOGIN_FAILED: "A sign-in failed",
    A.LOGIN_LOCKED_OUT: "Sign-ins were locked out after repeated failures",
    A.SECOND_FACTOR_REFUSED: "{actor}'s second-factor code was refused",
    A.SECOND_FACTOR_DEVICE_ADDED: "{actor} added a second factor",
    A.SECOND_FACTOR_DEVICE_REMOVED: "{actor} removed a second factor",
}


def event_sentence(event) -> str:
    template = SENTENCES.get(event.action)
    if template is None:
        # A row written before its action was renamed: its code still says what happened.
        return event.action.replace("_", " ").capitalize()
    return template.format(actor=event.actor_label or "The system")
