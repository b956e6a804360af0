"""Where we may send: no request to our own network on a customer's say-so.

In production (MPESA_ENVIRONMENT=production) an endpoint URL must be https, and every address its host
resolves to must be a public one: private, loopback, link-local, multicast, reserved and unspecified ranges
(IPv4 and IPv6, IPv4-mapped included) are refused unless the host is listed in WEBHOOK_ALLOWED_HOSTS. The
check runs when the endpoint is saved and again before every delivery, and the delivery connects to the very
address that was checked (a DNS answer that changes in between cannot redirect it).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class RefusedURL(ValueError):
    """The URL may not be used; the message says why (it names no secret)."""


def production() -> bool:
    return settings.MPESA_ENVIRONMENT == "production"


def _allowed_hosts() -> set[str]:
    return {h.strip().lower().strip("[]") for h in settings.WEBHOOK_ALLOWED_HOSTS if h.strip()}


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL we could post to, or RefusedURL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedURL("The URL is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise RefusedURL("The URL must start with https:// (or http:// outside production).")
    if production() and scheme != "https":
        raise RefusedURL("The URL must be https:// in production.")
    if parts.username or parts.password:
        raise RefusedURL("The URL must not contain a user name or password.")
    host = (parts.hostname or "").lower()
    if not host:
        raise RefusedURL("The URL has no host.")
    return scheme, host, port or (443 if scheme == "https" else 80)


def resolve_checked(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to): every address of the host checked against the rules.
    RefusedURL when the URL or any of its addresses may not be used, or the host does not resolve."""
    scheme, host, port = split_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise RefusedURL(f"The host {host} does not resolve.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise RefusedURL(f"The host {host} does not resolve.")
    if production() and host not in _allowed_hosts():
        for raw in addresses:
            address = ipaddress.ip_address(raw.split("%", 1)[0])
            if _forbidden(address):
                raise RefusedURL(
                    f"{host} resolves to {address}, a private, loopback or link-local address; list the host in "
                    "WEBHOOK_ALLOWED_HOSTS to allow it."
                )
    return scheme, host, port, addresses[0]


def validate_endpoint_url(url: str) -> None:
    """At creation: the URL's form, and in production its host's addresses."""
    if production():
        resolve_checked(url)
    else:
        split_url(url)
