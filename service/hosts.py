"""The Host header is the caller's word: no redirect repeats it, and AUTH_MODE=none answers only requests
addressed to this machine, so a page elsewhere cannot reach it by pointing a name of its own at 127.0.0.1
(service.edge.Edge applies both)."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit


def relative_location(location: str) -> str:
    """`location` as a path on this service. Leading slashes and backslashes are folded into one, since a
    browser reads `//host` and `/\\host` as another host."""
    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/\\")
    return urlunsplit(("", "", path, parts.query, parts.fragment))


# A Host header: a name or an IPv4 address, or an IPv6 address in brackets; then perhaps a port.
_HOST = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<name>[^:\[\]]+))(?::[0-9]*)?")


def is_local(host: str) -> bool:
    """Whether a Host header names this machine: `localhost`, a name under `.localhost` (browsers resolve
    those to loopback themselves, never through DNS), or a loopback address."""
    match = _HOST.fullmatch(host)
    if match is None:
        return False
    name = (match["v6"] or match["name"]).rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
