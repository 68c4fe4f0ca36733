"""CORS by route: the public form and list answer any origin; the technicians' routes only CORS_ORIGINS.

The website lives on an origin of its own, so every call it makes is cross-origin. Its public routes carry
no credentials and show nothing private, so any page may call them; the technicians' routes are granted
as the settings say. Starlette's CORSMiddleware does the work; this only chooses which grant applies.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from service.requestlog import REQUEST_ID_HEADER

_HEADERS = ["Content-Type", "Authorization", "If-Match", "Idempotency-Key", REQUEST_ID_HEADER]
_EXPOSED = ["Location", "ETag", "Retry-After", "Idempotent-Replayed", REQUEST_ID_HEADER]
_MAX_AGE = 600


class RouteCors:
    """Answers preflights and marks answers with the grant of the route asked for."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        public_paths: Collection[str],
        origins: list[str],
        allow_credentials: bool,
    ) -> None:
        self.app = app
        self.public_paths = frozenset(public_paths)
        self.public = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=_HEADERS,
            expose_headers=_EXPOSED,
            max_age=_MAX_AGE,
        )
        self.technicians: ASGIApp = app
        if origins:
            self.technicians = CORSMiddleware(
                app,
                allow_origins=origins,
                allow_credentials=allow_credentials,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=_HEADERS,
                expose_headers=_EXPOSED,
                max_age=_MAX_AGE,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        chosen = self.public if path in self.public_paths else self.technicians
        await chosen(scope, receive, send)
