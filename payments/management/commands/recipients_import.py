"""`python manage.py recipients_import PATH --user USERNAME [--name NAME] [--save]`

Checks every row of a CSV of recipients and prints what it would save and what it refuses (line and why),
saving nothing; with `--save`, saves the valid rows as recipients pending approval, under one import that an
approver then approves in the console (Recipients > Imports) or through the API, one by one. A file that cannot
be read, or an unknown user, is an error: exit 2, nothing saved. Exit 1 when rows were refused.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from payments.models import EventSource
from payments.recipients.imports import recipients_import_create, recipients_import_preview


class Command(BaseCommand):
    help = ("Import recipients from a CSV (name, rail, phone, party_b, account_reference, external_reference, "
            "category, notes): a preview by default; --save saves them pending approval.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The CSV file (UTF-8).")
        parser.add_argument("--user", required=True, help="Who imports them (needs the Payout requesters role); "
                            "another person must approve them.")
        parser.add_argument("--name", default="", help="A name for the import (default: the file's name).")
        parser.add_argument("--save", action="store_true", help="Save the valid rows (pending approval).")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.", returncode=2)
        try:
            with path.open("rb") as file:
                if options["save"]:
                    batch, preview = recipients_import_create(uploaded_by=user, file=file, name=options["name"],
                                                              source=EventSource.COMMAND)
                else:
                    batch, preview = None, recipients_import_preview(uploaded_by=user, file=file)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}", returncode=2) from None
        except ApplicationError as exc:
            raise CommandError(f"{path.name}: {exc.message}", returncode=2) from None
        for row in preview.rows:
            self.stdout.write(f"line {row.line}: {row.values['name']} ({row.paid_as})")
        for error in preview.errors:
            self.stdout.write(f"line {error['line']} refused: {error['problem']}")
        counts = f"{len(preview.rows)} valid, {len(preview.errors)} refused"
        if batch is not None:
            self.stdout.write(self.style.SUCCESS(
                f"Import #{batch.pk} saved {counts}: each recipient waits for another person's approval."))
        elif options["save"]:
            self.stdout.write(self.style.WARNING(f"Nothing saved: {counts}."))
        else:
            self.stdout.write(f"Preview only ({counts}); run again with --save to save the valid rows.")
        if preview.errors:
            sys.exit(1)
