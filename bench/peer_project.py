"""The peer of Issue 32, built from PyPI: mainfinity-django-mpesa 0.1.1 in its own virtualenv under
var/bench/peer/, in the project its README documents (`django-admin startproject`, the app, its concrete
models, its URLs under /mpesa/), with USE_CELERY=False (a callback is processed inside its request) and its
IP allow-list middleware. Used by bench/peer_side_by_side.py; nothing here listens beyond 127.0.0.1.

The peer's Django, DRF, gunicorn and psycopg are pinned to the versions of our requirements.txt, so the two
stacks differ by the application only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT / "var" / "bench" / "peer"
VENV = PEER / "venv"
PROJECT = PEER / "project"
PYTHON = VENV / "bin" / "python"
PACKAGE = "mainfinity-django-mpesa==0.1.1"
PINS = ["Django==5.2.19", "djangorestframework==3.18.3", "gunicorn==27.0.1", "psycopg[binary]==3.3.9"]

SETTINGS_TAIL = """
# --- Added by bench/peer_project.py: the peer's documented setup, on PostgreSQL -----------------------------
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS += ["rest_framework", "django_mpesa", "peerapp"]
# Its IP allow-list middleware (callbacks from anywhere else get 403); the benchmark posts from loopback.
MIDDLEWARE += ["django_mpesa.middleware.MpesaCallbackIPAllowlistMiddleware"]
DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.postgresql", "NAME": "{db}", "USER": "postgres", "HOST": "127.0.0.1",
    "PORT": "5432", "CONN_MAX_AGE": 600,
}}}}
MPESA = {{
    "ENV": "sandbox",
    "CONSUMER_KEY": "bench-key",
    "CONSUMER_SECRET": "bench-secret",
    "SHORTCODE": "600992",
    "PASSKEY": "bench-passkey",
    "TRANSACTION_MODEL": "peerapp.MpesaTransaction",
    "CALLBACK_LOG_MODEL": "peerapp.MpesaCallbackLog",
    "USE_CELERY": False,
    "VERIFY_CALLBACK_SOURCE_IP": True,
    "CALLBACK_IP_ALLOWLIST": ["127.0.0.1"],
}}
LOGGING = {{"version": 1, "disable_existing_loggers": False, "root": {{"level": "WARNING"}}}}
"""

MODELS = """from django_mpesa.models import AbstractMpesaCallbackLog, AbstractMpesaTransaction


class MpesaTransaction(AbstractMpesaTransaction):
    pass


class MpesaCallbackLog(AbstractMpesaCallbackLog):
    pass
"""

URLS = '''import json

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from peerapp.models import MpesaCallbackLog


@csrf_exempt
def floor(request):
    """The floor, as ours: read the body, insert one callback row, answer JSON."""
    body = json.loads(request.body)
    MpesaCallbackLog.objects.create(callback_type="B2C_RESULT", source_ip="127.0.0.1", raw_body=body)
    return JsonResponse({"ResultCode": 0, "ResultDesc": "Accepted"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("mpesa/", include("django_mpesa.urls")),
    path("bench/floor/", floor),
]
'''

SEED = """
import uuid
from peerapp.models import MpesaCallbackLog, MpesaTransaction
MpesaCallbackLog.objects.all().delete()
MpesaTransaction.objects.all().delete()
rows = [MpesaTransaction(transaction_type="B2C", status="PENDING", conversation_id="AG_PEER_%08d" % i,
        originator_conversation_id=str(uuid.uuid4()), phone_number="254705912645", amount="10.00",
        account_reference="Bench", transaction_desc="Bench") for i in range(COUNT)]
MpesaTransaction.objects.bulk_create(rows, batch_size=2000)
"""


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], check=True, timeout=600, **kwargs)


def install() -> None:
    """The peer's virtualenv, once: from PyPI through pip. Raises SystemExit with pip's words if it fails."""
    marker = VENV / ".installed"
    if marker.exists():
        return
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    done = subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", PACKAGE, *PINS], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise SystemExit(f"{PACKAGE} did not install from PyPI:\n{done.stderr[-2000:]}")
    marker.write_text(PACKAGE + "\n")


def build(db: str) -> None:
    """Its documented project, written on the first run and kept (var/ is ignored by git; remove
    var/bench/peer/project to write it again, and to point its settings at another `db`). The database comes
    first: makemigrations checks the migration history against it."""
    _create_database(db)
    if not (PROJECT / "manage.py").exists():
        PROJECT.mkdir(parents=True, exist_ok=True)
        _run([VENV / "bin" / "django-admin", "startproject", "peer", PROJECT])
        app = PROJECT / "peerapp"
        (app / "migrations").mkdir(parents=True, exist_ok=True)
        (app / "__init__.py").write_text("")
        (app / "migrations" / "__init__.py").write_text("")
        (app / "models.py").write_text(MODELS)
        settings = PROJECT / "peer" / "settings.py"
        settings.write_text(settings.read_text() + SETTINGS_TAIL.format(db=db))
        (PROJECT / "peer" / "urls.py").write_text(URLS)
        manage("makemigrations", "peerapp", quiet=True)
    manage("migrate", "--noinput", quiet=True)


def _create_database(db: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))


def manage(*args: str, quiet: bool = False) -> None:
    _run([PYTHON, "manage.py", *args], cwd=PROJECT, env=_env(), stdout=subprocess.DEVNULL if quiet else None)


def seed(count: int) -> None:
    """`count` PENDING B2C transactions, conversation ids AG_PEER_00000000 onwards; old rows removed."""
    _run([PYTHON, "manage.py", "shell", "-c", SEED.replace("COUNT", str(int(count)))], cwd=PROJECT, env=_env(),
         stdout=subprocess.DEVNULL)  # fmt: skip


def gunicorn_command(port: int, workers: int) -> list[str]:
    """As the issue measured it: 2 sync workers (the peer documents no gunicorn setup of its own)."""
    return [str(VENV / "bin" / "gunicorn"), "peer.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", str(workers),
            "--log-level", "warning"]  # fmt: skip


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(DJANGO_SETTINGS_MODULE="peer.settings", PYTHONPATH=str(PROJECT))
    return env


if __name__ == "__main__":
    install()
    build(sys.argv[1] if len(sys.argv) > 1 else "bench_peer")
    print("peer ready:", PROJECT)
