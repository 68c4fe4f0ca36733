"""The HTTP server's connections, bounded (`serve`): a request's header section holds at most MAX_HEADER_BYTES
and arrives whole within HEADERS_TIMEOUT_SECONDS, or the connection is answered 431 or 408 and closed.

uvicorn's httptools protocol reads headers without a bound (llhttp has none, and httptools gathers each
value whole), and a connection that sends its headers slowly, or nothing at all, stays open. This protocol
feeds the parser at most the room the header section has left, and times each header section from the
connection's start or from its request's first byte.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service.errors import HeadersTimeout, HeadersTooLarge, ServiceError
from service.settings import Settings

log = logging.getLogger(__name__)


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size and a time limit on each request's header section."""

    max_header_bytes = 16 * 1024
    headers_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # From the end of one request until the next one's headers are complete, bytes are header bytes.
        self._reading_headers = True
        self._header_bytes = 0
        self._headers_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        while data:
            if self._reading_headers:
                room = self.max_header_bytes - self._header_bytes
                if room <= 0:
                    self._refuse(HeadersTooLarge(self.max_header_bytes))
                    return
                self._header_bytes += min(room, len(data))
            else:
                # A body's end and the next request's start may share a read: feed the next headers in
                # pieces no larger than they may be, so the count above catches up with them.
                room = self.max_header_bytes
            piece, data = data[:room], data[room:]
            super().data_received(piece)
            if self.transport.is_closing():
                return

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_clock()

    def on_headers_complete(self) -> None:
        self._stop_clock()
        self._reading_headers = False
        self._header_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_headers = True

    def _start_clock(self) -> None:
        # A connection's first request is timed from the connection's start, later ones from their
        # first byte (uvicorn's keep-alive timeout closes an idle connection between requests).
        if self._headers_deadline is None:
            self._headers_deadline = self.loop.call_later(self.headers_timeout, self._too_slow)

    def _stop_clock(self) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
            self._headers_deadline = None

    def _too_slow(self) -> None:
        self._headers_deadline = None
        if self._header_bytes:
            self._refuse(HeadersTimeout(self.headers_timeout))
        else:
            self.transport.close()  # nothing was asked: nothing to answer

    def _refuse(self, error: ServiceError) -> None:
        """Answer `error` and close, unless an answer is on its way: then only close."""
        log.warning("%s %s; connection closed", error.status_code, error.message)
        if self.cycle is None or self.cycle.response_complete:
            body = error.body().model_dump_json().encode()
            headers = [
                *self.server_state.default_headers,
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
            self.transport.write(STATUS_LINE[error.status_code] + head + b"\r\n" + body)
        self.transport.close()


def bounded_http(settings: Settings) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn's `http`, with the limits of `settings`."""

    class Protocol(BoundedHttpTools):
        max_header_bytes = settings.max_header_bytes
        headers_timeout = settings.headers_timeout_seconds

    return Protocol
