"""The body limit: Starlette's RequestBodyLimitMiddleware, and a declared length over the limit refused first.

Starlette counts a body sent without a length (chunked) as the route reads it, and raises its 413
HTTPException in place of the chunk that passes the limit: the route never acts on the cut-off body, and
the app's handler answers BodyTooLarge. To a declared Content-Length over the limit it answers plain text
in place of whatever the app answered, after a route that reads no body (a DELETE) has acted; so that
request is answered here, before it reaches anything, with the service's JSON error.
"""

from __future__ import annotations

import re

from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from service.core.errors import BodyTooLarge
from service.http.responses import error_response

_DIGITS = re.compile(r"[0-9]+")


def _over(declared: bytes, limit: int) -> bool:
    """Whether a Content-Length says more than `limit` bytes: read as Starlette reads it (whatever int()
    takes of its Latin-1 text), or more digits than int() reads (4,300), which Starlette takes for none."""
    text = declared.decode("latin-1")
    try:
        return int(text) > limit
    except ValueError:
        return _DIGITS.fullmatch(text) is not None


class BodyLimit:
    """Answers 413 to any HTTP request whose body is larger than `limit` bytes."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = RequestBodyLimitMiddleware(app, max_body_size=limit)
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, declared in scope["headers"]:
                if name == b"content-length":  # the first, as Starlette's Headers.get reads it
                    if _over(declared, self.limit):
                        await error_response(BodyTooLarge(self.limit))(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)
