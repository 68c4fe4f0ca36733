"""One log line per HTTP request, with a request id that the response returns in X-Request-ID.

Every answer also carries `X-Content-Type-Options: nosniff`: text people typed is returned as JSON data,
and no browser may guess it to be a page.

Pure ASGI middleware rather than BaseHTTPMiddleware: it adds no task per request and leaves streamed
responses alone. It logs the method, the path (license plates and ids only), the status and the duration;
never the query string (it may carry tokens), headers or bodies.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from service.logs import request_id

log = logging.getLogger("service.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only when it is short and plain, so it cannot forge log lines or smuggle data.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def incoming_request_id(scope: Scope) -> str | None:
    """The caller's X-Request-ID when it is sane, else None."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SANE_REQUEST_ID.fullmatch(text) else None
    return None


class RequestLogMiddleware:
    """Logs each HTTP request once it is answered, and tags the response and every log line with its id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope) or str(ULID())
        # The 500 handler runs outside this middleware; it finds the id here to return it too.
        scope.setdefault("state", {})["request_id"] = rid
        status: int | None = None
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = rid
                headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = status or 500  # what the server error handler outside answers
            raise
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            log.info(
                "%s %s %s %.1fms",
                scope["method"],
                scope["path"],
                status if status is not None else "no response",
                duration_ms,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )
            request_id.reset(token)
