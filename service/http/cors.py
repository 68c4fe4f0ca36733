"""CORS by route: the public form and list answer any origin; the technicians' routes only those granted.

The website lives on an origin of its own, so every call it makes is cross-origin. Its public routes carry
no credentials and show nothing private, so any page may call them; the technicians' routes are granted
as the settings say, and with AUTH_MODE=none and no CORS_ORIGINS only to pages on this machine. Starlette's
CORSMiddleware does the work; service.http.edge.Edge chooses which grant applies and refuses what it does not
grant.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from service.http.requestlog import REQUEST_ID_HEADER

_HEADERS = ["Content-Type", "Authorization", "If-Match", "Idempotency-Key", REQUEST_ID_HEADER]
_EXPOSED = ["Location", "ETag", "Retry-After", "Idempotent-Replayed", REQUEST_ID_HEADER]
_MAX_AGE = 600

# The origins of pages on this machine, as browsers write them: http or https, any port, and the names
# service.core.hosts.is_local takes for a Host: `localhost` and names under it (browsers resolve them to
# loopback themselves), 127.0.0.0/8 and [::1]. Browsers write hosts in lower case, IPv4 addresses in
# dotted decimal without leading zeros and IPv6 addresses compressed; `null` is no machine at all.
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
LOCAL_ORIGINS = (
    rf"(?i)https?://(?:(?:[a-z0-9_-]+\.)*localhost\.?|127(?:\.{_OCTET}){{3}}|\[::1\])(?::[0-9]{{1,5}})?"
)


def cors_grants(
    app: ASGIApp, *, origins: list[str] | None, allow_credentials: bool
) -> tuple[CORSMiddleware, CORSMiddleware]:
    """`app` behind the public routes' grant (any origin) and behind the technicians' (`origins`; None: the
    pages on this machine). Each answers preflights, Private Network Access ones included, and marks
    answers; `is_allowed_origin` says whom it grants."""
    public = CORSMiddleware(
        app,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=_HEADERS,
        allow_private_network=True,
        expose_headers=_EXPOSED,
        max_age=_MAX_AGE,
    )
    technicians = CORSMiddleware(
        app,
        allow_origins=origins or [],
        allow_origin_regex=LOCAL_ORIGINS if origins is None else None,
        allow_credentials=allow_credentials,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=_HEADERS,
        # Only origins it grants reach it (Edge refuses the others first), so the grant goes to them only.
        allow_private_network=True,
        expose_headers=_EXPOSED,
        max_age=_MAX_AGE,
    )
    return public, technicians


def is_same_origin(origin: str, host: str) -> bool:
    """Whether a page on the service's own host sent the request (its /docs page): not a cross-origin call,
    so no grant applies. The scheme is not compared: behind a proxy the service may not know its own."""
    scheme, sep, authority = origin.partition("://")
    if not (sep and authority) or scheme.lower() not in ("http", "https"):
        return False
    return authority.lower() == host.lower()
