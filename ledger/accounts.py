"""The chart of accounts the system posts to. Created (never changed) after every migrate and flush."""

from __future__ import annotations

from django.conf import settings

from ledger.models import AccountType
from payments.models import PayoutRail
from payments.payouts.rails import RAILS
from payments.payouts.rails import Account as MpesaAccount

MPESA_UTILITY = "mpesa_utility"
MPESA_WORKING = "mpesa_working"
MPESA_COLLECTIONS = "mpesa_collections"
PAYOUTS_IN_FLIGHT = "payouts_in_flight"
CUSTOMER_REFUNDS = "customer_refunds"
DISBURSEMENTS = "disbursements"
SUPPLIER_PAYMENTS = "supplier_payments"
MPESA_CHARGES = "mpesa_charges"
PAYMENTS_RECEIVED = "payments_received"
FLOAT_FUNDING = "float_funding"
SUSPENSE = "suspense"

# code: (name, type, may go negative, description)
DEFAULT_ACCOUNTS = {
    MPESA_UTILITY: ("M-Pesa B2C float (Utility Account)", AccountType.ASSET, True,
                    "What Safaricom holds for our B2C payouts; negative until its opening balance is entered."),
    MPESA_WORKING: ("M-Pesa Working account (MMF)", AccountType.ASSET, True,
                    "Our Working/MMF account: pays suppliers (paybill, till) and tops up the B2C float; negative "
                    "until its opening balance is entered."),
    MPESA_COLLECTIONS: ("M-Pesa collections (paybill / till)", AccountType.ASSET, True,
                        "What customers paid into the paybill or till, less what was moved out of it."),
    PAYOUTS_IN_FLIGHT: ("Payouts in flight", AccountType.ASSET, False,
                        "Clearing: sent to M-Pesa, outcome not final (sending, submitted, verifying, in review)."),
    CUSTOMER_REFUNDS: ("Customer refunds", AccountType.EXPENSE, False, "Refunds M-Pesa paid to customers."),
    DISBURSEMENTS: ("Disbursements", AccountType.EXPENSE, False, "B2C payments M-Pesa paid to the people we pay."),
    SUPPLIER_PAYMENTS: ("Supplier payments", AccountType.EXPENSE, False,
                        "Paybill and till payments (B2B) M-Pesa paid to the businesses we pay."),
    MPESA_CHARGES: ("M-Pesa transaction charges", AccountType.EXPENSE, False, "Safaricom's charges."),
    PAYMENTS_RECEIVED: ("Payments received", AccountType.INCOME, False, "Customers' M-Pesa payments."),
    FLOAT_FUNDING: ("Float funding", AccountType.EQUITY, True,
                    "Top-ups, opening balances and transfers into (or out of) the M-Pesa accounts."),
    SUSPENSE: ("Suspense", AccountType.LIABILITY, True, "Money we cannot place yet; a person must look."),
}


# The M-Pesa account each rail's money leaves (payments/payouts/rails.py), as a ledger account. A reversal gives
# a received payment back out of the account it was paid into.
_LEAVES = {MpesaAccount.UTILITY: MPESA_UTILITY, MpesaAccount.WORKING: MPESA_WORKING}
_SOURCE_OVERRIDES = {PayoutRail.REVERSAL: MPESA_COLLECTIONS}


def rail_source(rail: str) -> str:
    """The account a payout on `rail` is paid from: `mpesa_utility` for B2C and Pochi, `mpesa_working` for
    paybill, till and the float top-up, `mpesa_collections` for a reversal."""
    return _SOURCE_OVERRIDES.get(rail) or _LEAVES[RAILS[rail].leaves]


# The M-Pesa accounts a person may enter a top-up or an opening balance for (four eyes).
FUNDABLE_ACCOUNTS = {MPESA_UTILITY: "The B2C float (Utility Account)", MPESA_WORKING: "The Working account (MMF)"}


# Mapped accounts this process has made sure exist (an entry naming a missing account would fail its commit).
_ensured: set[str] = set()


def disbursement_account(*, command_id: str, kind: str, by_kind: bool = True, default: str = DISBURSEMENTS) -> str:
    """The account a completed disbursement is charged to: LEDGER_DISBURSEMENT_ACCOUNTS maps a CommandID (or,
    with `by_kind`, a payout kind) to an account code; anything unmapped goes to `default`. A mapped account is
    created (an expense account) the first time this process needs it, if migrate has not created it already."""
    mapping = settings.LEDGER_DISBURSEMENT_ACCOUNTS
    key = command_id if mapping.get(command_id) else (kind if by_kind and mapping.get(kind) else None)
    if key is None:
        return default
    code = mapping[key]
    if code not in _ensured and code not in DEFAULT_ACCOUNTS:
        from ledger.models import Account

        Account.objects.get_or_create(
            code=code,
            defaults={"name": f"Disbursements: {key}", "type": AccountType.EXPENSE, "may_go_negative": False},
        )
        _ensured.add(code)
    return code


def ensure_accounts(account_model=None) -> None:
    from ledger.models import Account

    model = account_model or Account
    for code, (name, type_, negative, description) in DEFAULT_ACCOUNTS.items():
        model.objects.get_or_create(
            code=code, defaults={"name": name, "type": type_, "may_go_negative": negative, "description": description}
        )
    for key, code in settings.LEDGER_DISBURSEMENT_ACCOUNTS.items():
        model.objects.get_or_create(
            code=code,
            defaults={"name": f"Disbursements: {key}", "type": AccountType.EXPENSE, "may_go_negative": False,
                      "description": f"B2C payments paid with {key}."},
        )


def ensure_accounts_after_migrate(sender, **kwargs) -> None:
    ensure_accounts()
