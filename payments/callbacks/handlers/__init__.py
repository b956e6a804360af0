"""The handler of each callback kind: one module per family, one table. A new kind adds its module here and
one line below (docs/architecture.md, "Callbacks")."""

from payments.callbacks.handlers.b2b import b2b_result, b2b_timeout
from payments.callbacks.handlers.b2c import b2c_result, b2c_timeout
from payments.callbacks.handlers.balance import balance_result, balance_timeout
from payments.callbacks.handlers.c2b import c2b_confirmation, c2b_validation
from payments.callbacks.handlers.common import Handled
from payments.callbacks.handlers.reversal import reversal_result, reversal_timeout
from payments.callbacks.handlers.status import status_result, status_timeout
from payments.callbacks.handlers.stk import stk_result
from payments.models import CallbackKind

HANDLERS = {
    CallbackKind.B2C_RESULT: b2c_result,
    CallbackKind.B2C_TIMEOUT: b2c_timeout,
    CallbackKind.B2B_RESULT: b2b_result,
    CallbackKind.B2B_TIMEOUT: b2b_timeout,
    CallbackKind.REVERSAL_RESULT: reversal_result,
    CallbackKind.REVERSAL_TIMEOUT: reversal_timeout,
    CallbackKind.STATUS_RESULT: status_result,
    CallbackKind.STATUS_TIMEOUT: status_timeout,
    CallbackKind.BALANCE_RESULT: balance_result,
    CallbackKind.BALANCE_TIMEOUT: balance_timeout,
    CallbackKind.STK: stk_result,
    CallbackKind.C2B_CONFIRMATION: c2b_confirmation,
    CallbackKind.C2B_VALIDATION: c2b_validation,
}

__all__ = ["HANDLERS", "Handled"]
