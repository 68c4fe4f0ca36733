"""The Host header is the caller's word: no redirect repeats it, and AUTH_MODE=none answers only requests
addressed to this machine (or to the names ALLOWED_HOSTS adds), so a page elsewhere cannot reach it by
pointing a name of its own at 127.0.0.1 (service.http.edge.Edge applies both)."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit


def relative_location(location: str) -> str:
    """`location` as a path on this service. Leading slashes and backslashes are folded into one, since a
    browser reads `//host` and `/\\host` as another host."""
    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/\\")
    return urlunsplit(("", "", path, parts.query, parts.fragment))


# A Host header: a name or an IPv4 address, or an IPv6 address in brackets; then perhaps a port.
_HOST = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<name>[^:\[\]]+))(?::[0-9]*)?")


def host_name(host: str) -> str | None:
    """The name or address a Host header gives, lower case, without its port, brackets or final dot; None
    for what is no host."""
    match = _HOST.fullmatch(host)
    if match is None:
        return None
    return str(match["v6"] or match["name"]).rstrip(".").lower()


def is_local(host: str) -> bool:
    """Whether a Host header names this machine: `localhost`, a name under `.localhost` (browsers resolve
    those to loopback themselves, never through DNS), or a loopback address."""
    name = host_name(host)
    if name is None:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# Callers send the same few Host headers again and again; parsing one as an address is most of a check.
@lru_cache(maxsize=256)
def answered(host: str, extra: frozenset[str]) -> bool:
    """Whether AUTH_MODE=none answers a request with this Host header: a local name, or one of `extra`
    (names as `host_name` gives them)."""
    return is_local(host) or host_name(host) in extra
