"""Settings for the benchmarks that need the bare "floor" view: the product's settings with bench.urls."""

from mpesa_payouts.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
