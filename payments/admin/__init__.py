"""The operators' console. Every change made here is a call to a service in payments.services; the
admin shows, asks for confirmation and reports, and never writes money rows itself (docs/admin.md)."""

from payments.admin import audit, batches, controls, devices, finance, incoming, overview, payouts  # noqa: F401  (registers the admins)
