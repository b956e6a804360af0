from django.urls import path

from payments.callbacks.views import make_callback_view
from payments.models import CallbackKind

app_name = "callbacks"

_ROUTES = [
    ("b2c/result/<str:token>/", "b2c-result", CallbackKind.B2C_RESULT),
    ("b2c/timeout/<str:token>/", "b2c-timeout", CallbackKind.B2C_TIMEOUT),
    ("b2b/result/<str:token>/", "b2b-result", CallbackKind.B2B_RESULT),
    ("b2b/timeout/<str:token>/", "b2b-timeout", CallbackKind.B2B_TIMEOUT),
    ("reversal/result/<str:token>/", "reversal-result", CallbackKind.REVERSAL_RESULT),
    ("reversal/timeout/<str:token>/", "reversal-timeout", CallbackKind.REVERSAL_TIMEOUT),
    ("status/result/<str:token>/", "status-result", CallbackKind.STATUS_RESULT),
    ("status/timeout/<str:token>/", "status-timeout", CallbackKind.STATUS_TIMEOUT),
    ("balance/result/<str:token>/", "balance-result", CallbackKind.BALANCE_RESULT),
    ("balance/timeout/<str:token>/", "balance-timeout", CallbackKind.BALANCE_TIMEOUT),
    ("stk/<str:token>/", "stk", CallbackKind.STK),
    ("c2b/confirmation/<str:token>/", "c2b-confirmation", CallbackKind.C2B_CONFIRMATION),
    ("c2b/validation/<str:token>/", "c2b-validation", CallbackKind.C2B_VALIDATION),
]

urlpatterns = [path(route, make_callback_view(name, kind), name=name) for route, name, kind in _ROUTES]
