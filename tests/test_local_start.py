"""`make run` starts quietly and says what a newcomer needs: no warning at every start on SQLite and the
filesystem broker, and the banner names every demo login."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from payments.management.commands.seed_demo import DEMO_USERS

ROOT = Path(__file__).resolve().parents[1]


def local(tmp_path: Path, *args: str) -> str:
    """manage.py with the settings of a laptop run: SQLite, the filesystem broker, nothing else configured."""
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(DJANGO_SETTINGS_MODULE="mpesa_payouts.settings", DEBUG="true",
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_the_checks_on_sqlite_warn_of_nothing(tmp_path):
    output = local(tmp_path, "check", "--database", "default")
    assert "W040" not in output and "no issues" in output, output


def test_the_filesystem_broker_connects_without_a_hostname_warning(tmp_path):
    code = (
        "import logging; logging.basicConfig(level=logging.WARNING)\n"
        "from mpesa_payouts.celery import app\n"
        "with app.connection_for_write() as connection:\n"
        "    print('transport', connection.info()['transport'])\n"
    )
    output = local(tmp_path, "shell", "-c", code)
    assert "transport filesystem" in output and "No hostname" not in output, output


def test_the_start_banner_names_every_demo_login():
    spec = importlib.util.spec_from_file_location("run_local", ROOT / "scripts" / "run_local.py")
    run_local = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_local)
    for username, _, _ in DEMO_USERS:
        assert f" {username} " in run_local.BANNER.replace("(", " ").replace(",", " "), username
