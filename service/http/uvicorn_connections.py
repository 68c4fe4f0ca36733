"""The HTTP server's connections, bounded (`serve`): a request's header section holds at most MAX_HEADER_BYTES
and arrives whole within HEADERS_TIMEOUT_SECONDS, and its body within BODY_TIMEOUT_SECONDS, or the connection
is answered 431 or 408 and closed.

uvicorn's httptools protocol reads headers without a bound (llhttp has none, and httptools gathers each
value whole), and a connection that sends its request slowly, or nothing at all, stays open. This protocol
feeds the parser at most the room the header section has left, times each header section from the
connection's start or from its request's first byte, and each body from the end of its headers. A clock
starts only when a read leaves its part unfinished: a request that arrives whole in one read, as most do,
starts and stops none (each costs uvloop about 4 us).

Written for uvicorn 0.54.0 and httptools 0.9.0, which offer no such bound: it subclasses uvicorn's
httptools_impl.HttpToolsProtocol, overriding its connection and parser callbacks; reads its `loop`,
`transport`, `headers`, `server_state.default_headers`, `STATUS_LINE` and its `cycle`'s `response_started`
and `response_complete`; and sets the cycle's `disconnected` and `message_event` as uvicorn does when a
client goes. It finds a header section's end as CRLF CRLF, the only end httptools 0.9's llhttp takes.
tests/http/test_uvicorn_internals.py fails when any of these changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service.core.errors import HeadersTooLarge, RequestTimeout, ServiceError
from service.core.settings import Settings

log = logging.getLogger(__name__)

WRITTEN_FOR = {"uvicorn": "0.54.0", "httptools": "0.9.0"}

# Where a header section ends, and a chunked body too (llhttp, as of httptools 0.9, takes no bare LF): a read
# is fed to the parser up to each of these, so that a request ends where a piece ends and the next one starts
# a piece of its own.
_SECTION_END = b"\r\n\r\n"


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size limit on each request's header section, and a time limit
    on its header section and on its body."""

    max_header_bytes = 16 * 1024
    headers_timeout = 10.0
    body_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # From the end of one request until the next one's headers are complete, bytes are header bytes.
        self._reading_headers = True
        self._header_bytes = 0
        # What is left of a body of known length (None: chunked, or none at all).
        self._body_left: int | None = None
        # The last bytes fed, to find a section's end that one read began and the next one finishes.
        self._tail = b""
        # The one part being timed, headers or body, and when its time is up.
        self._timed_part = ""
        self._deadline: asyncio.TimerHandle | None = None
        # The part the parser is in, and its time, whose clock starts if a read ends within it.
        self._unfinished: tuple[str, float] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._time("headers", self.headers_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # A read may hold the end of one request and the start of the next (pipelining): the parser is fed
        # in pieces that each end where a request may end, so every piece belongs to one request and the
        # next request's header bytes are counted from its first byte.
        while data:
            if self._reading_headers:
                room = self.max_header_bytes - self._header_bytes
                if room <= 0:
                    self._refuse(HeadersTooLarge(self.max_header_bytes))
                    return
                size = min(room, self._through_section_end(data))
                self._header_bytes += size
            elif self._body_left:
                size = min(self._body_left, len(data))
                self._body_left -= size
            else:
                size = self._through_section_end(data)
            piece, data = data[:size], data[size:]
            self._tail = piece[-3:] if size >= 3 else (self._tail + piece)[-3:]
            super().data_received(piece)
            if self.transport.is_closing():
                return
        if self._unfinished is not None:
            self._time(*self._unfinished)

    def _through_section_end(self, data: bytes) -> int:
        """How much of `data` goes to the parser at once: through the first place a header section or a
        chunked body may end, or all of it. An end found in a body is only a shorter piece."""
        joint = (self._tail + data[:3]).find(_SECTION_END)
        if joint != -1:
            return joint + len(_SECTION_END) - len(self._tail)
        end = data.find(_SECTION_END)
        return len(data) if end == -1 else end + len(_SECTION_END)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # A connection's first request is timed from the connection's start, later ones from their
        # first byte (uvicorn's keep-alive timeout closes an idle connection between requests).
        if self._deadline is None:
            self._unfinished = ("headers", self.headers_timeout)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._header_bytes = 0
        self._body_left = _content_length(self.headers)
        self._stop_clock()
        self._unfinished = ("body", self.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stop_clock()
        super().on_message_complete()
        self._reading_headers = True

    def _time(self, part: str, seconds: float) -> None:
        self._stop_clock()
        self._timed_part = part
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _stop_clock(self) -> None:
        self._unfinished = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._timed_part == "body":
            self._refuse(RequestTimeout("body", self.body_timeout))
        elif self._header_bytes:
            self._refuse(RequestTimeout("headers", self.headers_timeout))
        else:
            self.transport.close()  # nothing was asked: nothing to answer

    def _refuse(self, error: ServiceError) -> None:
        """Answer `error` and close, unless an answer is on its way: then only close."""
        log.warning("%s %s; connection closed", error.status_code, error.message)
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            body = error.body().model_dump_json().encode()
            headers = [
                *self.server_state.default_headers,
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
            self.transport.write(STATUS_LINE[error.status_code] + head + b"\r\n" + body)
        if cycle is not None and not cycle.response_complete:
            # The app waiting for the rest of the body learns the client is gone, and what it would
            # answer is not written after this.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length of a request's headers (names lower-cased by uvicorn, the value checked by llhttp:
    digits, at most one), or None."""
    for name, value in headers:
        if name == b"content-length":
            return int(value)
    return None


def bounded_http(settings: Settings) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn's `http`, with the limits of `settings`."""

    class Protocol(BoundedHttpTools):
        max_header_bytes = settings.max_header_bytes
        headers_timeout = settings.headers_timeout_seconds
        body_timeout = settings.body_timeout_seconds

    return Protocol
