"""Run the local Daraja simulator (daraja_simulator) until Ctrl-C. See docs/simulator.md."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.money import kes
from daraja_simulator import SimulatorServer, SimulatorSettings, scenario_table
from daraja_simulator.keys import CERT_FILE
from daraja_simulator.rails import b2b_scenario_table

# The pairs the Django side reads (mpesa_payouts/settings.py): the simulator accepts exactly these when set.
_ENV_CREDENTIALS = (
    ("MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET"),
    ("MPESA_B2C_CONSUMER_KEY", "MPESA_B2C_CONSUMER_SECRET"),
)


def amount(value: str) -> Decimal:  # argparse names the type in its error: "invalid amount value"
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(value) from None


class Command(BaseCommand):
    # Independent of the app's models and URLs: it must start even while the app itself is broken.
    requires_system_checks: list[str] = []
    help = "Run a local Daraja (M-Pesa API) simulator: OAuth, B2C, Transaction Status, Account Balance, STK push."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--delay", type=float, default=0.5, help="Seconds before a callback is posted.")
        parser.add_argument("--ledger", default="", metavar="PATH", help="Keep the ledger in this JSON file.")
        parser.add_argument(
            "--key-dir",
            default="",
            metavar="DIR",
            help="Where the simulator's key and certificate are kept across restarts "
            "(default: var/daraja-simulator beside manage.py).",
        )
        parser.add_argument("--cert-out", default="", metavar="PATH", help="Also write the certificate here.")
        parser.add_argument(
            "--consumer-key",
            action="append",
            default=[],
            help="Accept only this consumer key (repeat with --consumer-secret for several apps). Default: "
            "MPESA_CONSUMER_KEY / MPESA_B2C_CONSUMER_KEY if set, else any non-empty pair.",
        )
        parser.add_argument("--consumer-secret", action="append", default=[])
        parser.add_argument(
            "--initiator-password",
            default=None,
            help="Accept only this initiator password (default: MPESA_INITIATOR_PASSWORD if set, else any "
            "password that decrypts). Prefer the environment variable: arguments show in the process list.",
        )
        parser.add_argument(
            "--stk-passkey", default=None, help="Check STK passwords against this passkey (default: MPESA_PASSKEY)."
        )
        parser.add_argument(
            "--float",
            dest="float_balance",
            type=amount,
            default=Decimal("1000000.00"),
            help="Opening utility account balance, KES.",
        )
        parser.add_argument(
            "--working",
            dest="working_balance",
            type=amount,
            default=Decimal("500000.00"),
            help="Opening Working account balance, KES (paybill and till payments and float top-ups draw on it).",
        )
        parser.add_argument(
            "--slow-seconds", type=float, default=35.0, help="How long the slow-answer scenario (…040) waits."
        )
        parser.add_argument("--token-ttl", type=int, default=3599, help="Access token lifetime, seconds.")
        parser.add_argument(
            "--accept-duplicates",
            action="store_true",
            help="Pay a resent OriginatorConversationID again instead of answering 500.002.1001.",
        )
        parser.add_argument(
            "--no-url-check",
            action="store_true",
            help="Accept callback URLs that contain words Safaricom refuses (mpesa, query, ...).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        server = build_server(options)
        try:
            server.start()
        except OSError as exc:
            raise CommandError(f"Cannot listen on {options['host']}:{options['port']}: {exc.strerror or exc}") from None
        certificate = server.write_certificate(options["cert_out"]) if options["cert_out"] else None
        self.stdout.write(self._banner(server, options, certificate))
        self.stdout.flush()
        terminated = threading.Event()
        restore = _stop_on_sigterm(terminated)
        try:
            while not terminated.is_set():
                time.sleep(0.2)
            self.stdout.write("Terminated: stopping the simulator...")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the simulator...")
        finally:
            server.stop()
            restore()
        self.stdout.write("Simulator stopped.")

    def _banner(self, server: SimulatorServer, options: dict[str, Any], certificate: Path | None) -> str:
        key_dir = _key_dir(options)
        settings_ = server.settings
        lines = [
            f"Daraja simulator listening on {server.url}  (MPESA_BASE_URL={server.url})",
            f"Certificate: {key_dir / CERT_FILE}" + (f" (copy: {certificate})" if certificate else ""),
            f"  Encrypt the initiator password with it: MPESA_CERTIFICATE_PATH={certificate or key_dir / CERT_FILE}",
            "  then `python manage.py generate_security_credential` (or let the app encrypt MPESA_INITIATOR_PASSWORD).",
            "Consumer key/secret: "
            + (f"{len(settings_.credentials)} configured pair(s)" if settings_.credentials else "any non-empty pair"),
            "Initiator password: "
            + ("the configured one" if settings_.initiator_password else "any that decrypts with the certificate"),
            f"Callbacks {settings_.delay} s after the answer; ledger: {options['ledger'] or 'in memory'}; "
            f"float {kes(server.ledger.utility_balance)}, Working account {kes(server.ledger.working_balance)}",
            f"Inspect: GET {server.url}/simulator/ledger   Reset: POST {server.url}/simulator/reset",
            "",
            scenario_table(),
            b2b_scenario_table(),
            "",
            "Quit with CONTROL-C.",
        ]
        return "\n".join(lines)


def _stop_on_sigterm(event: threading.Event) -> Callable[[], None]:
    """Let SIGTERM (process managers, `docker stop`, a launcher script) stop as cleanly as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal handlers can only be set from the main thread
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: event.set())
    return lambda: signal.signal(signal.SIGTERM, previous)


def _key_dir(options: dict[str, Any]) -> Path:
    if options["key_dir"]:
        return Path(options["key_dir"])
    base = Path(getattr(settings, "BASE_DIR", Path.cwd()))
    return base / "var" / "daraja-simulator"


def _credentials(options: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    keys, secrets = options["consumer_key"], options["consumer_secret"]
    if len(keys) != len(secrets):
        raise CommandError("Give one --consumer-secret for each --consumer-key.")
    if keys:
        return tuple(zip(keys, secrets, strict=True))
    pairs = {(os.environ.get(k, ""), os.environ.get(s, "")) for k, s in _ENV_CREDENTIALS}
    return tuple(sorted((k, s) for k, s in pairs if k and s))


def build_server(options: dict[str, Any]) -> SimulatorServer:
    """The SimulatorServer the options describe (separate from handle() so it can be tested)."""
    initiator_password = options.get("initiator_password")
    if initiator_password is None:
        initiator_password = os.environ.get("MPESA_INITIATOR_PASSWORD", "")
    stk_passkey = options.get("stk_passkey")
    if stk_passkey is None:
        stk_passkey = os.environ.get("MPESA_PASSKEY", "")
    simulator_settings = SimulatorSettings(
        delay=options["delay"],
        credentials=_credentials(options),
        initiator_password=initiator_password,
        stk_passkey=stk_passkey,
        float_balance=options["float_balance"],
        working_balance=options["working_balance"],
        slow_seconds=options["slow_seconds"],
        token_ttl=options["token_ttl"],
        dedupe=not options["accept_duplicates"],
        check_callback_urls=not options["no_url_check"],
    )
    return SimulatorServer(
        options["host"],
        options["port"],
        simulator_settings,
        ledger_path=options["ledger"] or None,
        key_dir=_key_dir(options),
    )
