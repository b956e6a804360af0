"""Production settings are safe by default: with MPESA_ENVIRONMENT=production `check --deploy` warns of
nothing, and the project's own checks refuse trusting X-Forwarded-For while the shipped compose file
publishes the web port past the proxy (a direct request could then name any address)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.test import Client

from payments import checks as payment_checks

ROOT = Path(__file__).resolve().parents[2]
SECRET = "k3J9x-Vq2mZr8Lw4Tn6Yp1Bd7Hc5Fs0Ga9Ue3Oi2Ry8Wt4Xv-Qa7Np2Lk5Jh8Gf"


def manage(*args: str, **extra: str) -> subprocess.CompletedProcess:
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        DJANGO_SETTINGS_MODULE="mpesa_payouts.settings",
        MPESA_ENVIRONMENT="production",
        SECRET_KEY=SECRET,
        CALLBACK_BASE_URL="https://payouts.example.com",
        ALLOWED_HOSTS="payouts.example.com",
        **extra,
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_in_production_warns_of_nothing():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert "security.W" not in output, output
    assert result.returncode == 0, output


def test_the_old_defaults_are_what_check_deploy_warned_about():
    """Each default can still be turned off explicitly, and `check --deploy` then names it: the test above
    passes because the defaults are safe, not because the check is silenced."""
    result = manage(
        "check", "--deploy", SECURE_SSL_REDIRECT="false", SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false", SECURE_HSTS_SECONDS="0",
    )  # fmt: skip
    output = result.stdout + result.stderr
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output, output


def test_production_settings_values():
    result = manage(
        "shell", "--no-imports", "-c",
        "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.X_FRAME_OPTIONS, s.SECURE_PROXY_SSL_HEADER)",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
    )  # fmt: skip
    assert result.stdout.strip() == "True True True 31536000 DENY ('HTTP_X_FORWARDED_PROTO', 'https')"


@pytest.mark.django_db
def test_behind_the_tls_proxy_https_is_recognised_and_plain_http_redirected(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    plain = client.get("/admin/login/")
    assert plain.status_code == 301 and plain["Location"] == "https://testserver/admin/login/"
    assert client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
    assert client.get("/healthz/").status_code == 200  # docker's health check inside the network


def project_errors(settings, compose_text: str | None, tmp_path, monkeypatch, count: int) -> list[str]:
    settings.CALLBACK_TRUSTED_PROXY_COUNT = count
    if compose_text is not None:
        compose = tmp_path / "docker-compose.yml"
        compose.write_text(compose_text)
        monkeypatch.setattr(payment_checks, "COMPOSE_FILE", compose)
    return [m.id for m in checks.run_checks(tags=[checks.Tags.security]) if m.id.startswith("payments.")]


@pytest.mark.parametrize(
    "ports", ['["8000:8000"]', '["0.0.0.0:8000:8000"]', '["8000"]', "[{target: 8000, published: 8000}]"]
)
def test_trusting_a_proxy_while_the_web_port_is_published_is_refused(settings, tmp_path, monkeypatch, ports):
    compose = f"services:\n  web:\n    image: x\n    ports: {ports}\n"
    assert "payments.E013" in project_errors(settings, compose, tmp_path, monkeypatch, 1)
    assert "payments.E013" not in project_errors(settings, compose, tmp_path, monkeypatch, 0)


def test_the_shipped_compose_file_is_the_safe_layout(settings, tmp_path, monkeypatch):
    """The file as shipped: the web port on loopback only, a proxy service in front, one trusted hop."""
    import yaml

    assert "payments.E013" not in project_errors(settings, None, tmp_path, monkeypatch, 1)
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert spec["services"]["web"]["ports"] == ["127.0.0.1:8000:8000"]
    assert "proxy" in spec["services"] and "443:443" in spec["services"]["proxy"]["ports"]
    assert spec["services"]["web"]["environment"]["CALLBACK_TRUSTED_PROXY_COUNT"].endswith(":-1}")
    assert (ROOT / "deploy" / "Caddyfile").read_text().count("reverse_proxy web:8000") == 1
