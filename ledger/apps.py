from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger (double entry)"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from ledger import receivers  # noqa: F401  (the float drift check listens to float readings)
        from ledger.accounts import ensure_accounts_after_migrate
        from ledger.roles import ensure_ledger_permissions_after_migrate

        # Again after every migrate and flush (tests, a reset demo), like the payout groups.
        post_migrate.connect(ensure_accounts_after_migrate, sender=self)
        post_migrate.connect(ensure_ledger_permissions_after_migrate, sender=self)
