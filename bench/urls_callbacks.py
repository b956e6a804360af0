"""The callbacks service's URLs plus the bare "floor" view of bench/urls.py, for benchmarks only."""

from django.urls import path

from bench.urls import floor
from mpesa_payouts.urls_callbacks import urlpatterns as callback_urlpatterns

urlpatterns = [path("bench/floor/", floor), *callback_urlpatterns]
