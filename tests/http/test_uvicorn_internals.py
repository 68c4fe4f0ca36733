"""What service/http/uvicorn_connections.py takes from uvicorn's and httptools' internals is there, on the
installed versions: each check fails naming the versions the protocol was written for."""

from __future__ import annotations

import ast
import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from importlib.metadata import version
from typing import Any

import httptools
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from service.http import uvicorn_connections
from service.http.uvicorn_connections import WRITTEN_FOR, BoundedHttpTools
from tests.support.written_for import assert_installed_as_written_for

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _changed(what: str) -> str:
    written = " and ".join(f"{name} {pinned}" for name, pinned in WRITTEN_FOR.items())
    installed = ", ".join(f"{name} {version(name)}" for name in WRITTEN_FOR)
    return f"{what}: service/http/uvicorn_connections.py was written for {written} (installed: {installed})"


def _overrides() -> list[str]:
    """The methods of uvicorn's protocol BoundedHttpTools replaces: its public ones (its own are private)."""
    return sorted(
        name for name, value in vars(BoundedHttpTools).items() if callable(value) and not name.startswith("_")
    )


def _own_names() -> set[str]:
    """The names BoundedHttpTools adds: its private methods and class attributes, and what it sets on self."""
    added = {name for name in vars(BoundedHttpTools) if name.startswith("_") and not name.startswith("__")}
    tree = ast.parse(inspect.getsource(BoundedHttpTools))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            added.add(node.attr)
    return added


def _protocol(cls: type[HttpToolsProtocol], config: uvicorn.Config) -> HttpToolsProtocol:
    """A protocol built as uvicorn's server builds one for each connection."""
    try:
        return cls(config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop())
    except TypeError as error:
        pytest.fail(_changed(f"HttpToolsProtocol is built otherwise ({error})"))


@pytest.mark.parametrize("library", sorted(WRITTEN_FOR))
def test_the_installed_libraries_are_the_versions_the_protocol_was_written_for(library: str) -> None:
    assert_installed_as_written_for(uvicorn_connections, library)


def test_each_method_it_replaces_is_uvicorns_with_the_same_parameters() -> None:
    assert _overrides(), "BoundedHttpTools replaces uvicorn's callbacks"
    for name in _overrides():
        theirs = getattr(HttpToolsProtocol, name, None)
        assert callable(theirs), _changed(f"HttpToolsProtocol has no {name} for BoundedHttpTools to replace")
        expected = list(inspect.signature(getattr(BoundedHttpTools, name)).parameters)
        assert list(inspect.signature(theirs).parameters) == expected, _changed(
            f"HttpToolsProtocol.{name}{inspect.signature(theirs)} takes other parameters"
        )


async def test_what_it_adds_shadows_nothing_of_uvicorns() -> None:
    taken = set(dir(HttpToolsProtocol)) | set(vars(_protocol(HttpToolsProtocol, _config(_echo))))
    assert _own_names() >= {"_reading_headers", "_deadline"}, "the names are read from its source"
    shadowed = _own_names() & taken
    assert not shadowed, _changed(f"HttpToolsProtocol has its own {sorted(shadowed)}")


async def _echo(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """An app that reads the whole request: where only the protocol is looked at."""
    while (await receive()).get("more_body"):
        pass


def _config(app: Callable[[dict[str, Any], Receive, Send], Awaitable[None]]) -> uvicorn.Config:
    return uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)


@asynccontextmanager
async def _serving(
    cls: type[BoundedHttpTools], config: uvicorn.Config
) -> AsyncIterator[tuple[int, list[HttpToolsProtocol]]]:
    """`cls` serving on a free port of 127.0.0.1: the port, and each connection's protocol as it is made."""
    made: list[HttpToolsProtocol] = []

    def connect() -> HttpToolsProtocol:
        made.append(_protocol(cls, config))
        return made[-1]

    server = await asyncio.get_running_loop().create_server(connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], made
    finally:
        server.close()
        await server.wait_closed()


async def test_a_body_too_slow_wakes_the_app_with_a_disconnect_as_uvicorns_cycle_does() -> None:
    """The cycle's fields it reads and sets are uvicorn's, and setting `disconnected` and `message_event` ends
    the app's wait for the body: the app learns the client is gone, and the client is answered 408."""
    reading, woken = asyncio.Event(), asyncio.Event()
    messages: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        while (message := await receive())["type"] != "http.disconnect":
            messages.append(message)
            reading.set()
        messages.append(message)
        woken.set()

    class Quick(BoundedHttpTools):
        body_timeout = 0.5

    async with _serving(Quick, _config(app)) as (port, made):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc")
            await _within(reading.wait(), "the app was not handed the body's first part")
            [protocol] = made
            _check_in_progress(protocol)
            cycle = protocol.cycle
            answer = await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
        assert answer.startswith(STATUS_LINE[408]), answer[:200]
        assert b'"code":"request_timeout"' in answer
        await _within(woken.wait(), f"the app waiting for the body was not woken: it received {messages}")
        assert messages == [
            {"type": "http.request", "body": b"abc", "more_body": True},
            {"type": "http.disconnect"},
        ]
        assert cycle.disconnected is True


async def test_a_clock_starts_only_for_a_part_that_a_read_leaves_unfinished() -> None:
    """Each clock costs uvloop a timer: requests that arrive whole start none after the connection's own;
    headers, then a body, that take more than one read are timed each."""
    started: list[str] = []

    class Counted(BoundedHttpTools):
        def _time(self, part: str, seconds: float) -> None:
            started.append(part)
            super()._time(part, seconds)

    async def answer(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await _echo(scope, receive, send)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def exchange(*parts: bytes) -> None:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.05)  # each part its own read
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).startswith(STATUS_LINE[204])

    async with _serving(Counted, _config(answer)) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(3):
                await exchange(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert started == ["headers"], "the connection's first clock, and none for whole requests"
            await exchange(b"GET / HTTP/1.1\r\nHo", b"st: localhost\r\n\r\n")
            await exchange(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nab", b"c")
        finally:
            writer.close()
    assert started == ["headers", "headers", "body"]


def _check_in_progress(protocol: HttpToolsProtocol) -> None:
    """What the protocol reads of uvicorn's, and the cycle's fields it sets, while a body is awaited."""
    assert protocol.loop is asyncio.get_running_loop(), _changed("HttpToolsProtocol.loop is not its loop")
    assert isinstance(protocol.transport, asyncio.Transport), _changed("HttpToolsProtocol.transport")
    assert (b"content-length", b"10") in protocol.headers, _changed(
        f"HttpToolsProtocol.headers is {protocol.headers!r}, not the (lower-cased name, value) pairs"
    )
    assert isinstance(protocol.server_state.default_headers, list), _changed("ServerState.default_headers")
    cycle = protocol.cycle
    assert isinstance(cycle, RequestResponseCycle), _changed(f"HttpToolsProtocol.cycle is {cycle!r}")
    fields = {name: getattr(cycle, name, None) for name in ("response_started", "response_complete")}
    assert fields == {"response_started": False, "response_complete": False}, _changed(
        f"a cycle in progress has {fields}"
    )
    assert getattr(cycle, "disconnected", None) is False, _changed("a cycle has no `disconnected` flag")
    assert isinstance(getattr(cycle, "message_event", None), asyncio.Event), _changed(
        "a cycle has no `message_event` that the app's receive() waits on"
    )


async def _within(waited: Awaitable[object], failure: str) -> None:
    try:
        await asyncio.wait_for(waited, 10)
    except TimeoutError:
        pytest.fail(_changed(failure))


class _Parsed:
    """httptools' callbacks, noting that a header section ended."""

    def __init__(self) -> None:
        self.headers_complete = False

    def on_headers_complete(self) -> None:
        self.headers_complete = True


def test_httptools_ends_a_header_section_only_at_crlf_crlf() -> None:
    """The protocol cuts what it feeds the parser where a section may end: only CRLF CRLF, never a bare LF."""
    parsed = _Parsed()
    httptools.HttpRequestParser(parsed).feed_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert parsed.headers_complete
    bare = _Parsed()
    with suppress(httptools.HttpParserError):
        httptools.HttpRequestParser(bare).feed_data(b"GET / HTTP/1.1\nHost: a\n\n")
    assert not bare.headers_complete, _changed("httptools ends a header section at a bare LF")
