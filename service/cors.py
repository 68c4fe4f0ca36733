"""CORS by route: the public form and list answer any origin; the technicians' routes only CORS_ORIGINS.

The website lives on an origin of its own, so every call it makes is cross-origin. Its public routes carry
no credentials and show nothing private, so any page may call them; the technicians' routes are granted
as the settings say. Starlette's CORSMiddleware does the work; service.edge.Edge chooses which grant applies.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from service.requestlog import REQUEST_ID_HEADER

_HEADERS = ["Content-Type", "Authorization", "If-Match", "Idempotency-Key", REQUEST_ID_HEADER]
_EXPOSED = ["Location", "ETag", "Retry-After", "Idempotent-Replayed", REQUEST_ID_HEADER]
_MAX_AGE = 600


def cors_grants(app: ASGIApp, *, origins: list[str], allow_credentials: bool) -> tuple[ASGIApp, ASGIApp]:
    """`app` behind the public routes' grant (any origin) and behind the technicians' (`origins`; `app`
    itself when there are none). Each answers preflights and marks answers."""
    public = CORSMiddleware(
        app,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=_HEADERS,
        expose_headers=_EXPOSED,
        max_age=_MAX_AGE,
    )
    if not origins:
        return public, app
    technicians = CORSMiddleware(
        app,
        allow_origins=origins,
        allow_credentials=allow_credentials,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=_HEADERS,
        expose_headers=_EXPOSED,
        max_age=_MAX_AGE,
    )
    return public, technicians
