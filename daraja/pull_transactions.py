"""Pull Transactions: the C2B payments a shortcode received in the last 48 hours, asked for by us.

Used to find payments whose confirmation never reached us. Register once (`pull_register`), then query a time
window page by page (`pull_all`). Rows are parsed into `PullTransaction`s; a row that cannot be read is kept
aside (`unreadable`) with the reason, never dropped silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.nairobi_time import NAIROBI
from core.phone import MSISDN, is_full_msisdn, is_hashed_msisdn
from daraja.callbacks import _payment_amount, _text, parse_daraja_datetime
from daraja.client import DarajaClient, Product, _error_fields
from daraja.errors import DarajaOutcomeUnknown, DarajaValidationError, error_for_code, error_for_http_status
from daraja.money_in import check_callback_url

PULL_REGISTER_PATH = "/pulltransactions/v1/register"
PULL_QUERY_PATH = "/pulltransactions/v1/query"
REGISTERED = "1000"
ALREADY_REGISTERED = "1001"
ROWS = "1000"
NO_ROWS = "1001"
NOTHING_AVAILABLE = "500"  # REFERENCE: "500 nothing available" (an error body): read as an empty page
MAX_PAGES = 100
_SHORTCODE = re.compile(r"^[0-9]{5,7}$")


@dataclass(frozen=True)
class PullRegistration:
    response_code: str  # 1000 registered now, 1001 already registered: both mean the shortcode can be queried
    description: str
    response_ref_id: str

    @property
    def already_registered(self) -> bool:
        return self.response_code == ALREADY_REGISTERED


def pull_register(
    client: DarajaClient, *, shortcode: str, nominated_number: str, callback_url: str, product: Product = "stk"
) -> PullRegistration:
    """Register `shortcode` for Pull (samples: pull_register_request.json). 1000 and 1001 are both success;
    anything else raises a DarajaError (a registration is safe to send again)."""
    _check_shortcode(shortcode)
    if not MSISDN.fullmatch(nominated_number or ""):
        raise DarajaValidationError("invalid_nominated_number", "NominatedNumber must be 12 digits: 2547XXXXXXXX")
    check_callback_url("CallBackURL", callback_url)
    payload = {
        "ShortCode": shortcode,
        "RequestType": "Pull",
        "NominatedNumber": nominated_number,
        "CallBackURL": callback_url,
    }
    status, body = client.request_raw(
        product=product, path=PULL_REGISTER_PATH, payload=payload, context=f"pull register {shortcode}"
    )
    code = _text(body.get("ResponseStatus") or body.get("ResponseCode")) if isinstance(body, dict) else ""
    if 200 <= status < 300 and code in (REGISTERED, ALREADY_REGISTERED):
        return PullRegistration(
            response_code=code,
            description=_text(body.get("ResponseDescription")),
            response_ref_id=_text(body.get("ResponseRefID")),
        )
    raise _refusal(status, body, code)


class MsisdnKind(StrEnum):
    FULL = "full"  # 2547XXXXXXXX: the payer's number
    MASKED = "masked"  # "2547 ***** 126" or any other partial form
    HASHED = "hashed"  # a 64-character SHA-256 hex, as C2B confirmations carry it since 2025
    MISSING = "missing"


@dataclass(frozen=True)
class PullTransaction:
    transaction_id: str  # the M-Pesa receipt
    amount: Decimal
    occurred_at: datetime | None  # aware; None when trxDate cannot be read
    msisdn: str
    msisdn_kind: MsisdnKind
    transaction_type: str  # e.g. c2b-pay-bill-debit
    bill_reference: str
    organization_name: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class PullPage:
    offset: int
    rows: tuple[PullTransaction, ...]
    unreadable: tuple[tuple[Any, str], ...] = ()  # (row as received, why it could not be read)
    response_code: str = ""

    @property
    def size(self) -> int:
        """Rows Daraja sent on this page, readable or not: what the next OffSetValue moves on by."""
        return len(self.rows) + len(self.unreadable)


@dataclass(frozen=True)
class PullHistory:
    rows: tuple[PullTransaction, ...]
    unreadable: tuple[tuple[Any, str], ...]
    pages: int
    complete: bool  # False: MAX_PAGES pages were read and more may remain


def pull_time(moment: datetime) -> str:
    """StartDate/EndDate: Nairobi time, "YYYY-MM-DD HH:MM:SS"."""
    if moment.tzinfo is None:
        raise DarajaValidationError("invalid_date", "Pull query dates must be timezone-aware")
    return moment.astimezone(NAIROBI).strftime("%Y-%m-%d %H:%M:%S")


def pull_query_payload(*, shortcode: str, start: datetime, end: datetime, offset: int) -> dict[str, str]:
    _check_shortcode(shortcode)
    if start > end:
        raise DarajaValidationError("invalid_date", "StartDate must not be after EndDate")
    if offset < 0:
        raise DarajaValidationError("invalid_offset", "OffSetValue must be 0 or more")
    return {
        "ShortCode": shortcode,
        "StartDate": pull_time(start),
        "EndDate": pull_time(end),
        "OffSetValue": str(offset),
    }


def pull_query(
    client: DarajaClient, *, shortcode: str, start: datetime, end: datetime, offset: int = 0, product: Product = "stk"
) -> PullPage:
    """One page of the window, from row `offset`. Safe to repeat (it only reads)."""
    payload = pull_query_payload(shortcode=shortcode, start=start, end=end, offset=offset)
    status, body = client.request_raw(
        product=product, path=PULL_QUERY_PATH, payload=payload, context=f"pull query {shortcode} offset={offset}"
    )
    return parse_pull_answer(status, body, offset=offset)


def pull_all(
    client: DarajaClient,
    *,
    shortcode: str,
    start: datetime,
    end: datetime,
    page_size: int | None = None,
    max_pages: int = MAX_PAGES,
    product: Product = "stk",
) -> PullHistory:
    """Every row of the window: pages by OffSetValue until a page comes back short. The page size is not
    documented, so unless `page_size` says it, the first page's length is taken as the size (a first page that
    was all there is costs one more query, which comes back empty)."""
    rows: list[PullTransaction] = []
    unreadable: list[tuple[Any, str]] = []
    offset = 0
    for pages in range(1, max_pages + 1):
        page = pull_query(client, shortcode=shortcode, start=start, end=end, offset=offset, product=product)
        rows.extend(page.rows)
        unreadable.extend(page.unreadable)
        if page_size is None:
            page_size = page.size
        if page.size == 0 or page.size < page_size:
            return PullHistory(tuple(rows), tuple(unreadable), pages, complete=True)
        offset += page.size
    return PullHistory(tuple(rows), tuple(unreadable), max_pages, complete=False)


def parse_pull_answer(status: int, body: Any, *, offset: int = 0) -> PullPage:
    """A query's answer (samples: pull_query_response.json, pull_query_empty.json) as a page; an error
    answer raises its DarajaError."""
    if not isinstance(body, dict):
        raise DarajaOutcomeUnknown("unparseable_response", f"Pull answered HTTP {status} with a body that is not JSON")
    code = _text(body.get("ResponseCode"))
    error_code, _ = _error_fields(body)
    if NOTHING_AVAILABLE in (code, error_code):
        return PullPage(offset=offset, rows=(), response_code=NOTHING_AVAILABLE)
    if not 200 <= status < 300 or code not in (ROWS, NO_ROWS):
        raise _refusal(status, body, code)
    rows, unreadable = parse_pull_rows(body.get("Response"))
    return PullPage(offset=offset, rows=rows, unreadable=unreadable, response_code=code)


def parse_pull_rows(value: Any) -> tuple[tuple[PullTransaction, ...], tuple[tuple[Any, str], ...]]:
    """`Response` as a list of rows, a list of lists of rows, or either written as a JSON string ("[[]]")."""
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_float=Decimal) if value.strip() else []
        except ValueError:
            return (), ((value, "Response is text that is not JSON"),)
    if value is None:
        value = []
    if not isinstance(value, list):
        return (), ((value, "Response is not a list"),)
    flat: list[Any] = []
    for item in value:
        flat.extend(item if isinstance(item, list) else [item])
    rows: list[PullTransaction] = []
    unreadable: list[tuple[Any, str]] = []
    for item in flat:
        parsed = parse_pull_row(item)
        if isinstance(parsed, str):
            unreadable.append((item, parsed))
        else:
            rows.append(parsed)
    return tuple(rows), tuple(unreadable)


def parse_pull_row(row: Any) -> PullTransaction | str:
    """One row, or the reason it cannot be read (a receipt and an amount to the cent are needed)."""
    if not isinstance(row, dict):
        return "not an object"
    receipt = _text(row.get("transactionId"))
    if not receipt:
        return "no transactionId"
    amount = _payment_amount(row.get("amount"))
    if amount is None:
        return "amount is not a positive amount to the cent"
    msisdn = _text(row.get("msisdn"))
    return PullTransaction(
        transaction_id=receipt,
        amount=amount,
        occurred_at=parse_daraja_datetime(row.get("trxDate")),
        msisdn=msisdn,
        msisdn_kind=msisdn_kind(msisdn),
        transaction_type=_text(row.get("transactiontype")),
        bill_reference=_text(row.get("billreference")),
        organization_name=_text(row.get("organizationname")),
        raw=dict(row),
    )


def msisdn_kind(value: str) -> MsisdnKind:
    if not value:
        return MsisdnKind.MISSING
    if is_full_msisdn(value):
        return MsisdnKind.FULL
    if is_hashed_msisdn(value):
        return MsisdnKind.HASHED
    return MsisdnKind.MASKED


def _check_shortcode(shortcode: str) -> None:
    if not _SHORTCODE.match(shortcode or ""):
        raise DarajaValidationError("invalid_shortcode", "ShortCode must be 5 to 7 digits")


def _refusal(status: int, body: Any, code: str):
    error_code, message = _error_fields(body)
    message = message or (
        _text(body.get("ResponseDescription") or body.get("ResponseMessage")) if isinstance(body, dict) else ""
    )
    if error_code or code:
        return error_for_code(error_code or code, message, http_status=status)
    return error_for_http_status(status, message=message)
