"""The documented scenario tables match the code, and the management command starts and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from daraja_simulator import B2C_SCENARIOS, STK_SCENARIOS
from payments.management.commands.daraja_simulator import Command, build_server

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "simulator.md").read_text()


def _table_rows(section_title: str) -> dict[str, str]:
    section = DOC.split(section_title, 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(\d{3})` \| (\w+) \|", section, flags=re.MULTILINE))


def test_b2c_table_in_the_docs_matches_the_code():
    documented = _table_rows("## B2C scenarios")
    assert documented == {suffix: s.name for suffix, s in B2C_SCENARIOS.items()}


def test_stk_table_in_the_docs_matches_the_code():
    documented = _table_rows("## STK push scenarios")
    assert documented == {suffix: s.name for suffix, s in STK_SCENARIOS.items()}


def _options(*args: str) -> dict:
    parser = Command().create_parser("manage.py", "daraja_simulator")
    return vars(parser.parse_args(list(args)))


def test_command_options_build_the_described_server(tmp_path, monkeypatch):
    monkeypatch.setenv("MPESA_CONSUMER_KEY", "stk-key")
    monkeypatch.setenv("MPESA_CONSUMER_SECRET", "stk-secret")
    monkeypatch.setenv("MPESA_B2C_CONSUMER_KEY", "b2c-key")
    monkeypatch.setenv("MPESA_B2C_CONSUMER_SECRET", "b2c-secret")
    monkeypatch.setenv("MPESA_INITIATOR_PASSWORD", "from-env")
    server = build_server(
        _options(
            "--port", "0", "--delay", "0.2", "--float", "500.50", "--key-dir", str(tmp_path), "--accept-duplicates"
        )
    )
    assert server.settings.delay == 0.2
    assert str(server.settings.float_balance) == "500.50"
    assert set(server.settings.credentials) == {("stk-key", "stk-secret"), ("b2c-key", "b2c-secret")}
    assert server.settings.initiator_password == "from-env"
    assert server.settings.dedupe is False
    assert (tmp_path / "simulator-cert.pem").read_bytes() == server.certificate_pem


def test_explicit_consumer_pair_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MPESA_CONSUMER_KEY", "env-key")
    monkeypatch.setenv("MPESA_CONSUMER_SECRET", "env-secret")
    options = _options("--consumer-key", "k", "--consumer-secret", "s", "--key-dir", str(tmp_path))
    assert build_server(options).settings.credentials == (("k", "s"),)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="sends POSIX signals")
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_command_serves_until_stopped(tmp_path, stop_signal):
    port = _free_port()
    cert_out = tmp_path / "cert.pem"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "tests.settings"}
    for name in ("MPESA_CONSUMER_KEY", "MPESA_B2C_CONSUMER_KEY"):
        env.pop(name, None)
    command = [sys.executable, "manage.py", "daraja_simulator", "--port", str(port)]
    command += ["--key-dir", str(tmp_path / "keys"), "--cert-out", str(cert_out)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "Quit with CONTROL-C" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(30), "".join(lines)
        banner = "".join(lines)
        assert f"http://127.0.0.1:{port}" in banner
        assert str(cert_out) in banner
        assert "032  duplicate" in banner
        answer = requests.get(
            f"http://127.0.0.1:{port}/oauth/v1/generate?grant_type=client_credentials", auth=("k", "s"), timeout=5
        )
        assert answer.status_code == 200
        assert cert_out.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    finally:
        process.send_signal(stop_signal)
        process.wait(timeout=15)
        reader.join(5)
    assert process.returncode == 0, "".join(lines)
    assert "Simulator stopped." in "".join(lines)
