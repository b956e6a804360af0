from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "M-Pesa payments and payouts"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from payments import checks, devices, login_audit  # noqa: F401  (checks registers the system checks)
        from payments.roles import ensure_groups_after_migrate

        # After auth has created the permissions (its own post_migrate handler runs first).
        post_migrate.connect(ensure_groups_after_migrate, sender=self)
        login_audit.connect()
        devices.connect()
