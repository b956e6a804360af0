"""The app's URLs plus a bare "floor" view, for benchmarks only (DJANGO_SETTINGS_MODULE=bench.settings)."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from mpesa_payouts.urls import urlpatterns as app_urlpatterns
from payments.models import CallbackKind, CallbackOutcome, DarajaCallback


@csrf_exempt
def floor(request):
    """What any Django view in this server costs at least: read the body, insert one row, answer JSON."""
    DarajaCallback.objects.create(
        kind=CallbackKind.B2C_RESULT, outcome=CallbackOutcome.PROCESSED, raw_body=request.body.decode()
    )
    return JsonResponse({"ResultCode": 0, "ResultDesc": "Accepted"})


urlpatterns = [path("bench/floor/", floor), *app_urlpatterns]
