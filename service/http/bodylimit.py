"""Refuses request bodies over a size with 413 before anything parses them.

Pure ASGI middleware, like the request log: a declared Content-Length over the limit is answered at once,
without reading the body; a body sent without one (chunked) is counted as it arrives and cut off as soon
as it passes the limit. The route never sees the body then, and its answer is replaced by the 413.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.errors import BodyTooLarge
from service.http.responses import error_response

# A length is ASCII digits (str.isdigit also takes '²', which int() refuses); past 18 of them it is over
# any limit, and int() refuses more than 4,300.
_LENGTH = re.compile(r"[0-9]+")
_LONGEST_LENGTH = 18


class _CutOff(Exception):
    """Raised to the app in place of the chunk that took the body over the limit."""


def _too_large(limit: int) -> JSONResponse:
    return error_response(BodyTooLarge(limit))


class BodyLimitMiddleware:
    """Answers 413 to any HTTP request whose body is larger than `limit` bytes."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if _LENGTH.fullmatch(declared) and (len(declared) > _LONGEST_LENGTH or int(declared) > self.limit):
            await _too_large(self.limit)(scope, receive, send)
            return

        received = 0
        started = False
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, answered
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    if not started:
                        await _too_large(self.limit)(scope, receive, send)
                        answered = True
                    raise _CutOff
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # whatever the app answers to the cut-off body, the caller has the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _CutOff:
            if not answered:
                raise
