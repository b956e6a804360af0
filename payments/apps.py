from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "M-Pesa payments and payouts"

    def ready(self) -> None:
        from payments import checks  # noqa: F401  (registers the system checks)
