"""Who may post callbacks: the source address, as seen through a configured number of proxies."""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache

from django.conf import settings

logger = logging.getLogger("payments.callbacks")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _parse_allowed(entries: tuple[str, ...]) -> tuple[bool, tuple[Network, ...]]:
    if "*" in entries:
        logger.warning("CALLBACK_ALLOWED_IPS is '*': callbacks are accepted from ANY address.")
        return True, ()
    networks = []
    for entry in entries:
        entry = entry.strip()
        if entry:
            networks.append(ipaddress.ip_network(entry, strict=False))
    return False, tuple(networks)


def parse_allowed_ips(entries) -> tuple[bool, tuple[Network, ...]]:
    """(allow_any, networks); raises ValueError on an entry that is not an IP or CIDR."""
    return _parse_allowed(tuple(entries))


def client_ip(request) -> str | None:
    """The caller's address. With N trusted proxies, the Nth address from the right of X-Forwarded-For
    is the one our outermost proxy saw; anything further left was written by the caller and is ignored."""
    remote = request.META.get("REMOTE_ADDR")
    hops = settings.CALLBACK_TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    if len(forwarded) < hops:
        return remote
    return forwarded[-hops]


def ip_allowed(ip: str | None) -> bool:
    allow_any, networks = parse_allowed_ips(settings.CALLBACK_ALLOWED_IPS)
    if allow_any:
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    return any(address in network for network in networks)
