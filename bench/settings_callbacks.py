"""The callbacks service's settings with the bare "floor" view added (bench/urls_callbacks.py), for
bench/peer_side_by_side.py: CALLBACKS_SETTINGS_MODULE=bench.settings_callbacks."""

from mpesa_payouts.settings_callbacks import *  # noqa: F403

ROOT_URLCONF = "bench.urls_callbacks"
