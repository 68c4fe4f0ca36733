"""The Host header is the caller's word: no redirect repeats it, and AUTH_MODE=none answers only requests
addressed to this machine, so a page elsewhere cannot reach it by pointing a name of its own at 127.0.0.1."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Receive, Scope, Send

from service.answers import HeadersMiddleware
from service.errors import MisdirectedRequest
from service.responses import error_response


def relative_location(location: str) -> str:
    """`location` as a path on this service. Leading slashes and backslashes are folded into one, since a
    browser reads `//host` and `/\\host` as another host."""
    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/\\")
    return urlunsplit(("", "", path, parts.query, parts.fragment))


class RelativeRedirects(HeadersMiddleware):
    """Every redirect the service answers points at a path of its own, never at a scheme and host taken
    from the request (Starlette builds a trailing-slash redirect from the Host header)."""

    def edit(self, scope: Scope, status: int, headers: MutableHeaders) -> None:
        if 300 <= status < 400 and "location" in headers:
            headers["location"] = relative_location(headers["location"])


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


class LocalHostsOnly:
    """For AUTH_MODE=none: every request must name a local host, or it gets 421 and reaches nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_local(Headers(scope=scope).get("host", "")):
            refusal = MisdirectedRequest(
                "with AUTH_MODE=none the service answers only requests to localhost or a loopback address"
            )
            await error_response(refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)
