"""System checks that refuse a configuration that would lose money or leak it."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.urls import reverse

from daraja.config import FORBIDDEN_URL_WORDS
from payments.callbacks.network import parse_allowed_ips

VALID_ENVIRONMENTS = ("simulator", "sandbox", "production")
# The shipped compose file (the image holds it too): checked for a web port published past the proxy.
COMPOSE_FILE = Path(settings.BASE_DIR) / "docker-compose.yml"
LOOPBACK = ("127.0.0.1", "::1", "[::1]", "localhost")


def directly_published_web_ports(compose_file: Path) -> list[str]:
    """The web service's ports that docker publishes on every interface (not only loopback): a caller
    reaching one skips the proxy and writes X-Forwarded-For itself."""
    import yaml

    try:
        spec = yaml.safe_load(compose_file.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    ports = (((spec.get("services") or {}).get("web") or {}).get("ports")) or []
    exposed = []
    for port in ports:
        if isinstance(port, dict):
            host_ip = str(port.get("host_ip", ""))
            text = f"{host_ip + ':' if host_ip else ''}{port.get('published', '')}:{port.get('target', '')}"
        else:
            text = str(port)
            host_ip = text.rsplit(":", 2)[0] if text.count(":") >= 2 else ""
        if host_ip.strip("[]") not in {ip.strip("[]") for ip in LOOPBACK}:
            exposed.append(text)
    return exposed


def forbidden_words_in(url: str) -> list[str]:
    lowered = url.lower()
    return [word for word in FORBIDDEN_URL_WORDS if word in lowered]


def _sample_callback_urls() -> list[str]:
    # The token part is hex and cannot hold a forbidden word; the origin and the paths can.
    names = ["b2c-result", "b2c-timeout", "status-result", "status-timeout", "balance-result", "stk",
             "c2b-confirmation", "c2b-validation"]
    return [settings.CALLBACK_BASE_URL + reverse(f"callbacks:{n}", kwargs={"token": "0" * 40}) for n in names]


@register(Tags.security, deploy=False)
def check_configuration(app_configs=None, **kwargs):
    errors = []
    environment = settings.MPESA_ENVIRONMENT
    if environment not in VALID_ENVIRONMENTS:
        errors.append(
            Error(f"MPESA_ENVIRONMENT must be one of {', '.join(VALID_ENVIRONMENTS)}.", id="payments.E001")
        )
    try:
        allow_any, _ = parse_allowed_ips(settings.CALLBACK_ALLOWED_IPS)
    except ValueError as exc:
        errors.append(Error(f"CALLBACK_ALLOWED_IPS has an entry that is not an IP or CIDR: {exc}", id="payments.E002"))
        allow_any = False
    if allow_any:
        errors.append(
            Warning(
                "CALLBACK_ALLOWED_IPS is '*': anyone on the internet who learns a callback URL can post to it.",
                id="payments.W001",
            )
        )
    for url in _sample_callback_urls():
        words = forbidden_words_in(url)
        if words:
            errors.append(
                Error(
                    f"Callback URLs contain {', '.join(repr(w) for w in words)}, which Safaricom rejects.",
                    hint="Serve the callbacks from a host and path without those words (CALLBACK_BASE_URL).",
                    id="payments.E003",
                )
            )
            break
    if settings.CALLBACK_TRUSTED_PROXY_COUNT > 0:
        exposed = directly_published_web_ports(COMPOSE_FILE)
        if exposed:
            errors.append(
                Error(
                    f"CALLBACK_TRUSTED_PROXY_COUNT is {settings.CALLBACK_TRUSTED_PROXY_COUNT} but "
                    f"{COMPOSE_FILE.name} publishes the web port to the network ({', '.join(exposed)}): a "
                    "direct request could name any address in X-Forwarded-For and pass the callback allow-list.",
                    hint="Publish web only on 127.0.0.1 (\"127.0.0.1:8000:8000\") and let the proxy service "
                    "take outside traffic, or set CALLBACK_TRUSTED_PROXY_COUNT=0 (docs/security.md).",
                    id="payments.E013",
                )
            )
    if environment == "production":
        from mpesa_payouts.settings import INSECURE_SECRET_KEY

        if settings.DEBUG:
            errors.append(Error("DEBUG must be off in production.", id="payments.E010"))
        if settings.SECRET_KEY == INSECURE_SECRET_KEY or len(settings.SECRET_KEY) < 32:
            errors.append(Error("Set a long random SECRET_KEY for production.", id="payments.E011"))
        if not settings.CALLBACK_BASE_URL.startswith("https://"):
            errors.append(Error("CALLBACK_BASE_URL must be https:// in production.", id="payments.E012"))
    return errors
