"""Process stored callbacks again: every due one (what beat's reprocess task does now), or one by id."""

from django.core.management.base import BaseCommand, CommandError

from payments.callbacks.reprocessing import callbacks_due_for_reprocessing, callbacks_reprocess
from payments.models import DarajaCallback


class Command(BaseCommand):
    help = (
        "Reprocesses stored callbacks whose processing failed (outcome `error`, next attempt due) or that were "
        "left `received`; with --id, those callbacks whatever their attempts. A callback that already took effect "
        "is left as it is."
    )

    def add_arguments(self, parser):
        parser.add_argument("--id", type=int, action="append", dest="ids", metavar="CALLBACK_ID",
                            help="Only this callback (repeat for several).")  # fmt: skip

    def handle(self, *args, **options):
        ids = options["ids"]
        if ids:
            missing = sorted(set(ids) - set(DarajaCallback.objects.filter(pk__in=ids).values_list("pk", flat=True)))
            if missing:
                raise CommandError(f"No callback with id {', '.join(map(str, missing))}; nothing was reprocessed.")
        else:
            ids = callbacks_due_for_reprocessing()
        counts: dict[str, int] = {}
        done = 0
        for callback_id, result in callbacks_reprocess(ids):
            done += 1
            outcome = result.outcome or "unchanged"
            counts[outcome] = counts.get(outcome, 0) + 1
            detail = f" ({result.message})" if result.message else ""
            self.stdout.write(f"callback {callback_id}: {outcome}{detail}")
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing due"
        if done < len(ids):
            raise CommandError(f"Stopped after {done} of {len(ids)} callbacks: the database connection was lost "
                               f"({summary}); run the command again.")
        self.stdout.write(self.style.SUCCESS(f"{len(ids)} callbacks: {summary}"))
