"""What the middlewares that only touch an answer's headers share: pure ASGI, no task per request."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadersMiddleware:
    """Calls `edit` with the headers of every HTTP answer just before they are sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def edit(self, scope: Scope, status: int, headers: MutableHeaders) -> None:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_edited(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.edit(scope, message["status"], MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_edited)
