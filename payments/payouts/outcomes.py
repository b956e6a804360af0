"""What the payout services answer, as enums (docs/architecture.md, "Where each kind of code lives").

A `StrEnum` compares equal to the string it replaced and serialises as it, so a task's return value, a log
line and a command's output read as before.
"""

from __future__ import annotations

from enum import StrEnum


class SendOutcome(StrEnum):
    """What one `payout_send` did (dispatch.SendResult.outcome)."""

    SUBMITTED = "submitted"  # Daraja accepted the request; the result comes by callback
    HELD = "held"  # a limit, the kill switch or a paid original holds it in `approved`
    RETRY = "retry"  # Daraja's answer proves it was not received: back to `approved`, sent again later
    FAILED = "failed"  # an answer that proves no money moved
    VERIFYING = "verifying"  # the outcome is unknown: a Transaction Status query settles it
    SKIPPED = "skipped"  # not `approved` (any more), or its approvals did not count: nothing sent


class QueryOutcome(StrEnum):
    """What one status or balance query did (dispatch.payout_query_status, account_balance_query)."""

    QUERIED = "queried"  # the query left; its answer comes by callback
    SKIPPED = "skipped"  # the payout is not in a status that is queried
    NEEDS_REVIEW = "needs_review"  # enough queries went unanswered: handed to a person
    ERROR = "error"  # Daraja refused or did not answer the query (logged); the sweep asks again
    # A paybill, till or top-up whose synchronous answer was lost: no id to ask by. The sweep waits for its result
    # until PAYOUT_RESULT_DEADLINE_MINUTES (then NEEDS_REVIEW); a person asking is told to use the org portal.
    WAITING = "waiting"
    NO_ID = "no_id"
