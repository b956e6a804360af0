"""The simulator's money in, apart from the STK push and C2B simulate (engine.py): Reversal, Pull Transactions,
STK Push Query, and a C2B payment made without its confirmation (for Pull to find).

Each method takes what a request carried and returns the answer, as engine.py's do; the HTTP layer routes
to them by name ("money_in.reversal"). The simulator's C2B payments live in `DarajaSimulator.c2b_payments`.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.nairobi_time import NAIROBI
from core.phone import MSISDN
from daraja_simulator import payloads
from daraja_simulator.engine import (
    SPIKE_ARREST,
    WRONG_CREDENTIALS,
    Reply,
    _invalid,
    _missing,
    _urls_refused,
    _whole_amount,
)
from daraja_simulator.scenarios import stk_scenario_for

if TYPE_CHECKING:
    from daraja_simulator.engine import DarajaSimulator

ALREADY_REVERSED = ("R000001", "The transaction has already been reversed.")
INVALID_ORIGINAL = ("R000002", "The OriginalTransactionID is invalid.")
REVERSAL_REFERENCE = {
    "Key": "QueueTimeoutURL",
    "Value": "https://internalsandbox.safaricom.co.ke/mpesa/reversalresults/v1/submit",
}
PULL_PAGE_SIZE = 1000  # rows per Pull page (Daraja does not document its own: see docs/simulator.md)
STK_QUERY_INTERVAL = 0.5  # seconds: a second query of the same CheckoutRequestID sooner is throttled
_PULL_DATE = "%Y-%m-%d %H:%M:%S"
_ROW_KEYS = (
    "transactionId",
    "trxDate",
    "msisdn",
    "sender",
    "transactiontype",
    "billreference",
    "amount",
    "organizationname",
)


class MoneyInDesk:
    def __init__(self, simulator: DarajaSimulator) -> None:
        self.sim = simulator
        self.page_size = PULL_PAGE_SIZE
        self.stk_query_interval = STK_QUERY_INTERVAL
        self._lock = threading.Lock()
        self._reversed: dict[str, str] = {}  # original receipt -> the reversal's receipt
        self._pull_registered: dict[str, str] = {}  # shortcode -> nominated number
        self._stk_queried: dict[str, float] = {}  # CheckoutRequestID -> when last queried (monotonic)

    # --- Reversal ----------------------------------------------------------------------------------------

    def reversal(self, authorization: str | None, raw: bytes) -> Reply:
        body = self.sim._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        required = (
            "Initiator",
            "SecurityCredential",
            "CommandID",
            "TransactionID",
            "Amount",
            "ReceiverParty",
            "RecieverIdentifierType",
            "ResultURL",
            "QueueTimeOutURL",
            "Remarks",
        )
        refused = _missing(body, required) or _urls_refused(body, ("ResultURL", "QueueTimeOutURL"), self.sim.settings)
        if refused:
            return refused
        if body["CommandID"] != "TransactionReversal":
            return _invalid("CommandID")
        if _whole_amount(body["Amount"]) is None:
            return _invalid("Amount")
        originator, conversation = payloads.originator_id(), payloads.conversation_id()
        original = str(body["TransactionID"]).strip()
        if self.sim._credential_ok(str(body["SecurityCredential"])):
            result = self._reverse(original, body, originator, conversation)
        else:
            result = payloads.credential_failure(originator=originator, conversation=conversation)
        self.sim.dispatcher.post_later(
            self.sim.settings.delay, str(body["ResultURL"]), result, kind="reversal_result", reference=original
        )
        return Reply(200, payloads.accepted_body(conversation, originator))

    def _reverse(self, original: str, body: dict[str, Any], originator: str, conversation: str) -> dict[str, Any]:
        """R000002 for a receipt it never took, R000001 for one already reversed, else a success."""
        payer = self._payer_of(original)
        with self._lock:
            if payer is None:
                return _reversal_envelope(*INVALID_ORIGINAL, originator, conversation)
            if original in self._reversed:
                return _reversal_envelope(*ALREADY_REVERSED, originator, conversation)
            receipt_no = self._reversed[original] = payloads.receipt()
        params = {
            "DebitAccountBalance": "Utility Account|KES|7722179.62|7722179.62|0.00|0.00",
            "Amount": float(_whole_amount(body["Amount"]) or 0),
            "TransCompletedTime": int(payloads.compact_time(payloads.now())),
            "OriginalTransactionID": original,
            "Charge": 0.0,
            "CreditPartyPublicName": payloads.public_name(payer),
            "DebitPartyPublicName": f"{body['ReceiverParty']} - Simulated Business {body['ReceiverParty']}",
        }
        envelope = _reversal_envelope(0, "The service request is processed successfully.", originator, conversation)
        envelope["Result"]["TransactionID"] = receipt_no
        envelope["Result"]["ResultParameters"] = {
            "ResultParameter": [{"Key": k, "Value": v} for k, v in params.items()]
        }
        return envelope

    def _payer_of(self, receipt_no: str) -> str | None:
        """The phone that paid `receipt_no` by C2B or STK push, or None if the simulator never took it."""
        with self.sim.c2b_lock:
            for payment in self.sim.c2b_payments:
                if payment["transactionId"] == receipt_no:
                    return str(payment["msisdn"])
        with self.sim.ledger.lock:
            return next((s.phone for s in self.sim.ledger.stk_requests if s.receipt and s.receipt == receipt_no), None)

    # --- Pull Transactions ---------------------------------------------------------------------------------

    def pull_register(self, authorization: str | None, raw: bytes) -> Reply:
        body = self.sim._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        refused = _missing(body, ("ShortCode", "RequestType", "NominatedNumber", "CallBackURL")) or _urls_refused(
            body, ("CallBackURL",), self.sim.settings
        )
        if refused:
            return refused
        if body["RequestType"] != "Pull":
            return _invalid("RequestType")
        if not MSISDN.fullmatch(str(body["NominatedNumber"])):
            return _invalid("NominatedNumber")
        shortcode = str(body["ShortCode"])
        with self._lock:
            again = shortcode in self._pull_registered
            self._pull_registered.setdefault(shortcode, str(body["NominatedNumber"]))
        return Reply(
            200,
            {
                "ResponseRefID": payloads.request_id(),
                "ResponseStatus": "1001" if again else "1000",
                "ShortCode": shortcode,
                "ResponseDescription": "Shortcode already registered" if again else "Shortcode Registered Successfully",
            },
        )

    def pull_query(self, authorization: str | None, raw: bytes) -> Reply:
        body = self.sim._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        refused = _missing(body, ("ShortCode", "StartDate", "EndDate"))
        if refused:
            return refused
        shortcode = str(body["ShortCode"])
        with self._lock:
            registered = shortcode in self._pull_registered
        if not registered:
            return Reply(400, payloads.error_body("400.001", "Invalid shortcode: not registered for Pull"))
        start, end = _pull_date(body["StartDate"]), _pull_date(body["EndDate"])
        offset = str(body.get("OffSetValue") or "0").strip()
        if start is None or end is None or not offset.isdigit():
            return _invalid("StartDate" if start is None else "EndDate" if end is None else "OffSetValue")
        rows = self._rows(shortcode, start, end)[int(offset) : int(offset) + self.page_size]
        if not rows:
            return Reply(
                200,
                {
                    "ResponseRefID": payloads.request_id(),
                    "ResponseCode": "1001",
                    "ResponseMessage": "No transactions",
                    "Response": "[[]]",
                },
            )
        return Reply(
            200,
            {
                "ResponseRefID": payloads.request_id(),
                "ResponseCode": "1000",
                "ResponseMessage": "Success",
                "Response": [rows],
            },
        )

    def _rows(self, shortcode: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        with self.sim.c2b_lock:
            payments = [p for p in self.sim.c2b_payments if p["shortcode"] == shortcode]
        in_window = [p for p in payments if start <= _row_time(p) <= end]
        in_window.sort(key=lambda p: (p["trxDate"], p["transactionId"]))
        return [{key: p[key] for key in _ROW_KEYS} for p in in_window]

    def unconfirmed_c2b(self, authorization: str | None, raw: bytes) -> Reply:
        """POST /simulator/c2b/unconfirmed {ShortCode, Amount, Msisdn, BillRefNumber}: a customer pays, and no
        confirmation is ever posted (no token needed, like the other /simulator/ routes)."""
        body = _json_object(raw)
        if body is None:
            return _invalid("payload")
        refused = _missing(body, ("ShortCode", "Amount", "Msisdn"))
        if refused:
            return refused
        amount, msisdn = _whole_amount(body["Amount"]), str(body["Msisdn"]).strip()
        if amount is None:
            return _invalid("Amount")
        if not MSISDN.fullmatch(msisdn):
            return _invalid("Msisdn")
        payment = self.sim.record_c2b_payment(
            shortcode=str(body["ShortCode"]),
            amount=amount,
            msisdn=msisdn,
            bill_ref=str(body.get("BillRefNumber") or ""),
            receipt_no=payloads.receipt(),
            confirmed=False,
        )
        return Reply(200, {"TransID": payment["transactionId"], "confirmed": False})

    # --- STK Push Query ------------------------------------------------------------------------------------

    def stk_query(self, authorization: str | None, raw: bytes) -> Reply:
        body = self.sim._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        refused = _missing(body, ("BusinessShortCode", "Password", "Timestamp", "CheckoutRequestID"))
        if refused:
            return refused
        shortcode, password, timestamp = (str(body[k]) for k in ("BusinessShortCode", "Password", "Timestamp"))
        if not self.sim._stk_password_ok(shortcode, password, timestamp):
            return Reply(500, payloads.error_body(WRONG_CREDENTIALS, "Wrong credentials"))
        checkout = str(body["CheckoutRequestID"])
        now = time.monotonic()
        with self._lock:
            last = self._stk_queried.get(checkout)
            self._stk_queried[checkout] = now
        if last is not None and now - last < self.stk_query_interval:
            return Reply(429, payloads.error_body(SPIKE_ARREST, "Spike arrest violation. Slow down and retry."))
        with self.sim.ledger.lock:
            record = next((s for s in self.sim.ledger.stk_requests if s.checkout_request_id == checkout), None)
        if record is None:
            return _invalid("CheckoutRequestID")
        answered_at = datetime.fromisoformat(record.received_at) + timedelta(seconds=self.sim.settings.delay)
        if payloads.now() < answered_at:
            return Reply(500, payloads.error_body(WRONG_CREDENTIALS, "The transaction is being processed"))
        return Reply(
            200,
            {
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",  # sic
                "MerchantRequestID": record.merchant_request_id,
                "CheckoutRequestID": checkout,
                "ResultCode": str(record.result_code),
                "ResultDesc": stk_scenario_for(record.phone).result_desc,
            },
        )


def _reversal_envelope(code: int | str, desc: str, originator: str, conversation: str) -> dict[str, Any]:
    return {
        "Result": {
            "ResultType": 0,
            "ResultCode": code,
            "ResultDesc": desc,
            "OriginatorConversationID": originator,
            "ConversationID": conversation,
            "TransactionID": "SKE0000000",  # a failure's placeholder (samples: reversal_result_invalid.json)
            "ReferenceData": {"ReferenceItem": dict(REVERSAL_REFERENCE)},
        }
    }


def _pull_date(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value).strip(), _PULL_DATE).replace(tzinfo=NAIROBI)
    except ValueError:
        return None


def _row_time(payment: dict[str, Any]) -> datetime:
    return datetime.strptime(payment["trxDate"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None
