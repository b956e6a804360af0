"""Where we may send: no request to our own network on a customer's say-so.

In every environment, every address an endpoint's host resolves to must be a public one: private, loopback,
link-local, multicast, reserved and unspecified ranges (IPv4 and IPv6; an IPv4 address carried inside IPv6 as
IPv4-mapped, 6to4 or NAT64 is judged as that IPv4 address) are refused unless the host is listed in
WEBHOOK_ALLOWED_HOSTS (a receiver on the business's own network, or on this machine under `make run` and the
tests). An internet-facing sandbox or staging is as exposed as production. In production the URL must also be
https. The check runs when the endpoint is saved and again before every delivery, and the delivery connects to
the very address that was checked (a DNS answer that changes in between cannot redirect it).
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


# NAT64 (RFC 6052 well-known prefix, RFC 8215 local-use prefix): a NAT64 gateway on our network would forward
# 64:ff9b::a9fe:a9fe to 169.254.169.254.
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")


def _carried_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to (IPv4-mapped, 6to4, NAT64), or None."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL_USE:
            return True  # a site's own translator: where it leads is for the site to say, never public
        address = _carried_ipv4(address) or address
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
    if host not in _allowed_hosts():
        for raw in addresses:
            address = ipaddress.ip_address(raw.split("%", 1)[0])
            if _forbidden(address):
                carried = _carried_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
                shown = f"{address} (which leads to {carried})" if carried else str(address)
                raise RefusedURL(
                    f"{host} resolves to {shown}, a private, loopback or link-local address; list the host in "
                    "WEBHOOK_ALLOWED_HOSTS to allow it."
                )
    return scheme, host, port, addresses[0]


def validate_endpoint_url(url: str) -> None:
    """At creation: the URL's form and its host's addresses."""
    resolve_checked(url)
