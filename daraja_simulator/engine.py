"""Daraja's behaviour, apart from HTTP: each method takes what a request carried and returns the answer,
scheduling the callbacks that answer implies. The HTTP layer (server.py) only moves bytes."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
import string
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from core.phone import MSISDN
from daraja.config import FORBIDDEN_URL_WORDS
from daraja.security import decrypt_security_credential
from daraja_simulator import payloads
from daraja_simulator.dispatcher import CallbackDispatcher
from daraja_simulator.keys import SimulatorKeys
from daraja_simulator.ledger import FAILED, NOT_PROCESSED, PAID, B2BRecord, Ledger, PaymentRecord, StkRecord
from daraja_simulator.scenarios import (
    C2B_HASHED_SUFFIX,
    C2B_UNCONFIRMED_SUFFIX,
    B2CScenario,
    Delivery,
    Rejection,
    ResultShape,
    b2c_scenario_for,
    stk_scenario_for,
)

INVALID_TOKEN = "404.001.03"
INVALID_FIELD = "400.002.02"
INVALID_PAYLOAD = "400.002.05"
SPIKE_ARREST = "500.003.02"
DUPLICATE = "500.002.1001"
WRONG_CREDENTIALS = "500.001.1001"
B2C_COMMANDS = ("BusinessPayment", "SalaryPayment", "PromotionPayment")
STK_TYPES = ("CustomerPayBillOnline", "CustomerBuyGoodsOnline")
_TIMESTAMP = re.compile(r"^\d{14}$")
_TOKEN_CHARS = string.ascii_letters + string.digits
CREDENTIAL_CACHE_SIZE = 64  # SecurityCredentials remembered with what they decrypt to (an app sends one)


@dataclass(frozen=True)
class SimulatorSettings:
    delay: float = 0.5  # seconds before a callback is posted
    # Accepted (consumer_key, consumer_secret) pairs; empty: any non-empty pair.
    credentials: tuple[tuple[str, str], ...] = ()
    initiator_password: str = ""  # empty: any SecurityCredential that decrypts with our key
    stk_passkey: str = ""  # empty: any Password shaped base64(shortcode + passkey + timestamp)
    float_balance: Decimal = Decimal("1000000.00")
    working_balance: Decimal = Decimal("500000.00")  # the Working account B2B payments and top-ups draw on
    slow_seconds: float = 35.0  # the slow-answer scenario; longer than the client's 30 s read timeout
    token_ttl: int = 3599
    dedupe: bool = True  # False: a resent OriginatorConversationID is paid again (Safaricom promises nothing)
    min_amount: int = 10
    max_amount: int = 250_000
    callback_timeout: float = 10.0
    check_callback_urls: bool = True

    def __repr__(self) -> str:
        return (
            f"SimulatorSettings(delay={self.delay}, credentials={len(self.credentials)} pair(s), "
            f"initiator_password={'set' if self.initiator_password else 'any'}, "
            f"stk_passkey={'set' if self.stk_passkey else 'any'}, float_balance={self.float_balance}, "
            f"slow_seconds={self.slow_seconds}, token_ttl={self.token_ttl}, dedupe={self.dedupe})"
        )


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


class DarajaSimulator:
    def __init__(
        self,
        *,
        settings: SimulatorSettings,
        keys: SimulatorKeys,
        ledger: Ledger,
        dispatcher: CallbackDispatcher,
        stopping: threading.Event,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.ledger = ledger
        self.dispatcher = dispatcher
        self._stopping = stopping
        self._tokens: dict[str, float] = {}
        self._tokens_lock = threading.Lock()
        # SecurityCredential -> the password inside (None: it does not decrypt). The same ciphertext always
        # decrypts to the same password, so an RSA private-key operation per request is not needed.
        self._decrypted_credentials: OrderedDict[str, str | None] = OrderedDict()
        self._decrypted_lock = threading.Lock()
        self._c2b_urls: dict[str, dict[str, str]] = {}  # shortcode -> registered Confirmation/Validation URLs
        self.c2b_payments: list[dict[str, Any]] = []  # every C2B payment, confirmed or not: for Pull, Reversal
        self.c2b_lock = threading.Lock()
        # Imported here: these modules use this one's helpers (Reply, _invalid, ...).
        from daraja_simulator.money_in import MoneyInDesk
        from daraja_simulator.name_check import NameCheckDesk

        self.money_in = MoneyInDesk(self)
        self.name_check = NameCheckDesk(self)

    # --- OAuth ---------------------------------------------------------------------------------------

    def oauth(self, authorization: str | None, grant_type: str) -> Reply:
        if grant_type != "client_credentials":
            return Reply(400, payloads.error_body("400.008.02", "Invalid grant type passed"))
        pair = _basic_credentials(authorization)
        if pair is None or not self._credentials_accepted(*pair):
            return Reply(400, payloads.error_body("400.008.01", "Invalid Authentication passed"))
        token = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(28))
        now = time.time()
        with self._tokens_lock:
            self._tokens = {t: expiry for t, expiry in self._tokens.items() if expiry > now}
            self._tokens[token] = now + self.settings.token_ttl
        return Reply(200, {"access_token": token, "expires_in": str(self.settings.token_ttl)})

    def revoke_tokens(self) -> None:
        """Forget every issued token, as Daraja does when it expires or replaces them."""
        with self._tokens_lock:
            self._tokens.clear()

    def _credentials_accepted(self, key: str, secret: str) -> bool:
        if not key or not secret:
            return False
        if not self.settings.credentials:
            return True
        return any(hmac.compare_digest(key, k) and hmac.compare_digest(secret, s) for k, s in self.settings.credentials)

    def _token_refused(self, authorization: str | None) -> Reply | None:
        scheme, _, token = (authorization or "").partition(" ")
        with self._tokens_lock:
            expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or expiry <= time.time():
            # As the real API answers it: HTTP 404 with errorCode 404.001.03.
            return Reply(404, payloads.error_body(INVALID_TOKEN, "Invalid Access Token"))
        return None

    # --- B2C -----------------------------------------------------------------------------------------

    def b2c_payment(
        self, authorization: str | None, raw: bytes, *, commands: tuple[str, ...] = B2C_COMMANDS
    ) -> Reply:
        body = self._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        required = (
            "OriginatorConversationID",
            "InitiatorName",
            "SecurityCredential",
            "CommandID",
            "Amount",
            "PartyA",
            "PartyB",
            "Remarks",
            "QueueTimeOutURL",
            "ResultURL",
        )
        refused = _missing(body, required) or _urls_refused(body, ("ResultURL", "QueueTimeOutURL"), self.settings)
        if refused:
            return refused
        amount = _whole_amount(body["Amount"])
        phone = str(body["PartyB"]).strip()
        if body["CommandID"] not in commands:
            return _invalid("CommandID")
        if amount is None:
            return _invalid("Amount")
        if not MSISDN.fullmatch(phone):
            return _invalid("PartyB")
        if not 2 <= len(str(body["Remarks"])) <= 100:
            return _invalid("Remarks")

        originator = str(body["OriginatorConversationID"])
        scenario = b2c_scenario_for(phone)
        received = payloads.now().isoformat()
        if scenario.rejection is Rejection.SPIKE_ARREST or (
            scenario.rejection is Rejection.SPIKE_ARREST_FIRST
            and not self.ledger.was_rejected(originator, SPIKE_ARREST)
        ):
            self.ledger.note_rejection(originator, SPIKE_ARREST, received)
            status = 429 if scenario.rejection is Rejection.SPIKE_ARREST else 500
            return Reply(status, payloads.error_body(SPIKE_ARREST, "Spike arrest violation. Slow down and retry."))

        credential_ok = self._credential_ok(str(body["SecurityCredential"]))  # slow-ish: outside the lock
        with self.ledger.lock:  # check and insert together: two simultaneous sends cannot both be new
            earlier = self.ledger.for_originator_id(originator)
            if earlier and self.settings.dedupe:
                self.ledger.note_duplicate(earlier[0], received)
                return Reply(500, payloads.error_body(DUPLICATE, "Duplicate OriginatorConversationID."))
            record = self._settle(body, originator, amount, phone, scenario, received, credential_ok)
            self.ledger.add_payment(record)
            if scenario.rejection is Rejection.DUPLICATE:
                # Pretend an earlier request carried this id and was settled: this one is its duplicate.
                self.ledger.note_duplicate(record, received)
        if scenario.rejection is Rejection.DUPLICATE:
            return Reply(500, payloads.error_body(DUPLICATE, "Duplicate OriginatorConversationID."))

        delivery = scenario.delivery if credential_ok else Delivery.RESULT
        accepted = Reply(200, payloads.accepted_body(record.conversation_id, originator))
        self._deliver_b2c(delivery, record, body, scenario if credential_ok else None)
        return accepted

    def _settle(
        self,
        body: dict[str, Any],
        originator: str,
        amount: int,
        phone: str,
        scenario: B2CScenario,
        received: str,
        credential_ok: bool,
    ) -> PaymentRecord:
        """Decide what M-Pesa does with an accepted request, moving the float if it pays."""
        outcome, code, desc = PAID, "0", "The service request is processed successfully."
        if not credential_ok:
            outcome, code, desc = FAILED, "2001", "The initiator information is invalid."
        elif scenario.result_code != "0":
            outcome, code, desc = FAILED, scenario.result_code, scenario.result_desc
        elif amount < self.settings.min_amount:
            outcome, code = FAILED, "2"
            desc = "Declined due to limit rule: less than the smallest transaction value."
        elif amount > self.settings.max_amount:
            outcome, code = FAILED, "3"
            desc = "Declined due to limit rule: greater than the maximum transaction amount."
        elif not scenario.paid:
            outcome, code, desc = NOT_PROCESSED, "1037", "The request timed out in the M-Pesa queue."
        elif not self.ledger.debit(amount):
            outcome, code, desc = FAILED, "1", "The balance is insufficient for the transaction."
        record = PaymentRecord(
            originator_conversation_id=originator,
            conversation_id=payloads.conversation_id(),
            transaction_id=payloads.receipt(),
            amount=amount,
            phone=phone,
            command_id=str(body["CommandID"]),
            party_a=str(body["PartyA"]),
            remarks=str(body["Remarks"]),
            occasion=str(body.get("Occassion") or body.get("Occasion") or ""),
            scenario=scenario.name,
            outcome=outcome,
            result_code=code,
            result_desc=desc,
            completed_at=payloads.now().isoformat(),
            utility_balance_after=f"{self.ledger.utility_balance:.2f}",
            working_balance_after=f"{self.ledger.working_balance:.2f}",
            received_at=[received],
        )
        return record

    def _deliver_b2c(
        self, delivery: Delivery, record: PaymentRecord, request: dict[str, Any], scenario: B2CScenario | None
    ) -> None:
        delay = self.settings.delay
        result_url, timeout_url = str(request["ResultURL"]), str(request["QueueTimeOutURL"])
        reference = record.originator_conversation_id
        if delivery is Delivery.NONE:
            return
        if delivery is Delivery.TIMEOUT_ECHO:
            # Integrators report the original request coming back, SecurityCredential included.
            self.dispatcher.post_later(delay, timeout_url, dict(request), kind="b2c_timeout", reference=reference)
            return
        if delivery is Delivery.TIMEOUT_RESULT:
            body = payloads.timeout_result(record)
            self.dispatcher.post_later(delay, timeout_url, body, kind="b2c_timeout", reference=reference)
            return
        result = payloads.b2c_result(record)
        if scenario is not None and scenario.reported_code and record.paid:
            desc = {"15": "Duplicate Detected", "17": "Internal Failure"}.get(scenario.reported_code, "Failure")
            result = payloads.reported_result(record, code=scenario.reported_code, desc=desc)
        elif scenario is not None and scenario.shape is ResultShape.SINGLE_PARAMETER and not record.paid:
            result = payloads.single_parameter_failure(record)
        if delivery is Delivery.RESULT_BEFORE_ANSWER:
            self.dispatcher.post_now(result_url, result, kind="b2c_result", reference=reference)
        elif delivery is Delivery.RESULT_THRICE:
            # Two at the same moment (a race for the integrator's locks), then a straggler.
            for when in (delay, delay, 2 * delay):
                self.dispatcher.post_later(when, result_url, result, kind="b2c_result", reference=reference)
        elif delivery is Delivery.SLOW_ANSWER:
            self._stopping.wait(self.settings.slow_seconds)
            self.dispatcher.post_later(delay, result_url, result, kind="b2c_result", reference=reference)
        else:
            self.dispatcher.post_later(delay, result_url, result, kind="b2c_result", reference=reference)

    # --- Queries -------------------------------------------------------------------------------------

    def transaction_status(self, authorization: str | None, raw: bytes) -> Reply:
        body = self._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        required = ("Initiator", "SecurityCredential", "CommandID", "PartyA", "IdentifierType", "ResultURL")
        refused = _missing(body, required) or _urls_refused(body, ("ResultURL", "QueueTimeOutURL"), self.settings)
        if refused:
            return refused
        if body["CommandID"] != "TransactionStatusQuery":
            return _invalid("CommandID")
        original = str(body.get("OriginalConversationID") or "")
        transaction_id = str(body.get("TransactionID") or "")
        if not original and not transaction_id:
            return _invalid("TransactionID")
        query_originator = str(body.get("OriginatorConversationID") or payloads.originator_id())
        query_conversation = payloads.conversation_id()
        if self._credential_ok(str(body["SecurityCredential"])):
            result = payloads.status_result(
                query_originator=query_originator,
                query_conversation=query_conversation,
                record=self._find(original, transaction_id, party_a=str(body["PartyA"])),
                occasion=str(body.get("Occasion") or ""),
            )
        else:
            result = payloads.credential_failure(originator=query_originator, conversation=query_conversation)
        self.dispatcher.post_later(
            self.settings.delay,
            str(body["ResultURL"]),
            result,
            kind="status_result",
            reference=original or transaction_id,
        )
        return Reply(200, payloads.accepted_body(query_conversation, query_originator))

    def _find(self, original: str, transaction_id: str, *, party_a: str) -> PaymentRecord | B2BRecord | None:
        """The payment a status query asks about (B2C and Pochi, else B2B); a paid attempt wins over failed ones
        with the same id. Looked up only under the shortcode that asks (PartyA): one sent from another is not
        found, as M-Pesa does not find it."""
        records: list = self.ledger.for_originator_id(original) if original else []
        if not records and transaction_id:
            found = self.ledger.by_receipt(transaction_id)
            records = [found] if found else []
        if not records:
            b2b = self.ledger.b2b_by_id(original, transaction_id)
            records = [b2b] if b2b else []
        records = [r for r in records if r.party_a == party_a]
        paid = [r for r in records if r.paid]
        return (paid or records or [None])[0]

    def account_balance(self, authorization: str | None, raw: bytes) -> Reply:
        body = self._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        required = ("Initiator", "SecurityCredential", "CommandID", "PartyA", "IdentifierType", "ResultURL")
        refused = _missing(body, required) or _urls_refused(body, ("ResultURL", "QueueTimeOutURL"), self.settings)
        if refused:
            return refused
        if body["CommandID"] != "AccountBalance":
            return _invalid("CommandID")
        originator = str(body.get("OriginatorConversationID") or payloads.originator_id())
        conversation = payloads.conversation_id()
        if self._credential_ok(str(body["SecurityCredential"])):
            with self.ledger.lock:
                balance, working = self.ledger.utility_balance, self.ledger.working_balance
            result = payloads.balance_result(
                originator=originator, conversation=conversation, utility_balance=balance, working_balance=working
            )
        else:
            result = payloads.credential_failure(originator=originator, conversation=conversation)
        self.dispatcher.post_later(
            self.settings.delay, str(body["ResultURL"]), result, kind="balance_result", reference=originator
        )
        return Reply(200, payloads.accepted_body(conversation, originator))

    # --- C2B -----------------------------------------------------------------------------------------

    def c2b_register(self, authorization: str | None, raw: bytes) -> Reply:
        body = self._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        refused = _missing(body, ("ShortCode", "ResponseType", "ConfirmationURL", "ValidationURL")) or _urls_refused(
            body, ("ConfirmationURL", "ValidationURL"), self.settings
        )
        if refused:
            return refused
        self._c2b_urls[str(body["ShortCode"])] = {
            "confirmation": str(body["ConfirmationURL"]),
            "validation": str(body["ValidationURL"]),
        }
        return Reply(
            200,
            {
                "OriginatorCoversationID": payloads.originator_id(),  # sic: Daraja's spelling
                "ResponseCode": "0",
                "ResponseDescription": "Success",
            },
        )

    def c2b_simulate(self, authorization: str | None, raw: bytes) -> Reply:
        """A customer pays the shortcode: the confirmation goes to its registered ConfirmationURL."""
        body = self._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        refused = _missing(body, ("ShortCode", "CommandID", "Amount", "Msisdn"))
        if refused:
            return refused
        urls = self._c2b_urls.get(str(body["ShortCode"]))
        amount = _whole_amount(body["Amount"])
        msisdn = str(body["Msisdn"]).strip()
        if urls is None:
            return _invalid("ShortCode")
        if amount is None:
            return _invalid("Amount")
        if not MSISDN.fullmatch(msisdn):
            return _invalid("Msisdn")
        receipt_no = payloads.receipt()
        confirmed = not msisdn.endswith(C2B_UNCONFIRMED_SUFFIX)  # else only Pull (or a statement) finds it
        bill_ref = str(body.get("BillRefNumber") or "")
        shortcode = str(body["ShortCode"])
        self.record_c2b_payment(shortcode=shortcode, amount=amount, msisdn=msisdn, bill_ref=bill_ref,
                                receipt_no=receipt_no, confirmed=confirmed)
        if not confirmed:
            return Reply(200, {"OriginatorCoversationID": payloads.originator_id(), "ResponseCode": "0",
                               "ResponseDescription": "Accept the service request successfully."})
        confirmation = payloads.c2b_confirmation(shortcode=shortcode, amount=amount, msisdn=msisdn, bill_ref=bill_ref,
                                                 receipt_no=receipt_no, hashed=msisdn.endswith(C2B_HASHED_SUFFIX))
        self.dispatcher.post_later(
            self.settings.delay, urls["confirmation"], confirmation, kind="c2b_confirmation", reference=receipt_no
        )
        return Reply(
            200,
            {"OriginatorCoversationID": payloads.originator_id(), "ResponseCode": "0",
             "ResponseDescription": "Accept the service request successfully."},
        )

    def record_c2b_payment(
        self, *, shortcode: str, amount: int, msisdn: str, bill_ref: str, receipt_no: str, confirmed: bool
    ) -> dict[str, Any]:
        """Note a customer's C2B payment as the row Pull Transactions answers with."""
        moment = payloads.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        payment = {"transactionId": receipt_no, "trxDate": moment, "msisdn": int(msisdn), "sender": "UNKNOWN",
                   "transactiontype": "c2b-pay-bill-debit", "billreference": bill_ref, "amount": f"{amount}",
                   "organizationname": f"Simulated Business {shortcode}", "shortcode": shortcode,
                   "confirmed": confirmed}
        with self.c2b_lock:
            self.c2b_payments.append(payment)
        return payment

    # --- STK push ------------------------------------------------------------------------------------

    def stk_push(self, authorization: str | None, raw: bytes) -> Reply:
        body = self._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        required = (
            "BusinessShortCode",
            "Password",
            "Timestamp",
            "TransactionType",
            "Amount",
            "PartyA",
            "PartyB",
            "PhoneNumber",
            "CallBackURL",
            "AccountReference",
            "TransactionDesc",
        )
        refused = _missing(body, required) or _urls_refused(body, ("CallBackURL",), self.settings)
        if refused:
            return refused
        amount = _whole_amount(body["Amount"])
        phone = str(body["PhoneNumber"]).strip()
        if body["TransactionType"] not in STK_TYPES:
            return _invalid("TransactionType")
        if not _TIMESTAMP.match(str(body["Timestamp"])):
            return _invalid("Timestamp")
        if amount is None:
            return _invalid("Amount")
        if not MSISDN.fullmatch(phone):
            return _invalid("PhoneNumber")
        if not self._stk_password_ok(str(body["BusinessShortCode"]), str(body["Password"]), str(body["Timestamp"])):
            return Reply(500, payloads.error_body(WRONG_CREDENTIALS, "Wrong credentials"))

        scenario = stk_scenario_for(phone)
        merchant_request = payloads.originator_id()
        checkout_request = payloads.checkout_request_id()
        receipt_no = payloads.receipt() if scenario.result_code == 0 else ""
        self.ledger.add_stk(
            StkRecord(
                merchant_request_id=merchant_request,
                checkout_request_id=checkout_request,
                phone=phone,
                amount=amount,
                account_reference=str(body["AccountReference"]),
                scenario=scenario.name,
                result_code=scenario.result_code,
                receipt=receipt_no,
                received_at=payloads.now().isoformat(),
            )
        )
        callback = payloads.stk_callback(
            merchant_request=merchant_request,
            checkout_request=checkout_request,
            code=scenario.result_code,
            desc=scenario.result_desc,
            amount=amount,
            phone=phone,
            receipt_no=receipt_no,
        )
        self.dispatcher.post_later(
            self.settings.delay, str(body["CallBackURL"]), callback, kind="stk_callback", reference=checkout_request
        )
        message = "Success. Request accepted for processing"
        return Reply(
            200,
            {
                "MerchantRequestID": merchant_request,
                "CheckoutRequestID": checkout_request,
                "ResponseCode": "0",
                "ResponseDescription": message,
                "CustomerMessage": message,
            },
        )

    # --- Checks --------------------------------------------------------------------------------------

    def _authorised_json(self, authorization: str | None, raw: bytes) -> dict[str, Any] | Reply:
        refused = self._token_refused(authorization)
        if refused:
            return refused
        try:
            body = json.loads(raw or b"")
        except (ValueError, UnicodeDecodeError):
            return Reply(400, payloads.error_body(INVALID_PAYLOAD, "Invalid request payload"))
        if not isinstance(body, dict):
            return Reply(400, payloads.error_body(INVALID_PAYLOAD, "Invalid request payload"))
        return body

    def _credential_ok(self, credential: str) -> bool:
        password = self._decrypted(credential)
        if password is None:
            return False
        if self.settings.initiator_password:
            return hmac.compare_digest(password, self.settings.initiator_password)
        return bool(password)

    def _decrypted(self, credential: str) -> str | None:
        """The password inside `credential` (None if it does not decrypt with our key), remembered for the
        last few credentials seen. Neither is ever logged."""
        with self._decrypted_lock:
            if credential in self._decrypted_credentials:
                self._decrypted_credentials.move_to_end(credential)
                return self._decrypted_credentials[credential]
        try:
            password: str | None = decrypt_security_credential(credential, self.keys.private_key_pem)
        except ValueError:
            password = None
        with self._decrypted_lock:
            self._decrypted_credentials[credential] = password
            self._decrypted_credentials.move_to_end(credential)
            while len(self._decrypted_credentials) > CREDENTIAL_CACHE_SIZE:
                self._decrypted_credentials.popitem(last=False)
        return password

    def _stk_password_ok(self, shortcode: str, password: str, timestamp: str) -> bool:
        try:
            text = base64.b64decode(password, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return False
        if self.settings.stk_passkey:
            return hmac.compare_digest(text, f"{shortcode}{self.settings.stk_passkey}{timestamp}")
        return text.startswith(shortcode) and text.endswith(timestamp) and len(text) > len(shortcode) + len(timestamp)


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        key, separator, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        return None
    return (key, secret) if separator else None


def _invalid(name: str) -> Reply:
    return Reply(400, payloads.error_body(INVALID_FIELD, f"Bad Request - Invalid {name}"))


def _missing(body: dict[str, Any], names: tuple[str, ...]) -> Reply | None:
    for name in names:
        if body.get(name) in (None, ""):
            return _invalid(name)
    return None


def _urls_refused(body: dict[str, Any], names: tuple[str, ...], settings: SimulatorSettings) -> Reply | None:
    for name in names:
        url = str(body.get(name) or "")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return _invalid(name)
        if settings.check_callback_urls and any(word in url.lower() for word in FORBIDDEN_URL_WORDS):
            return _invalid(name)
    return None


def _whole_amount(value: Any) -> int | None:
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount != amount.to_integral_value():
        return None
    return int(amount)
