"""`serve`'s connections under hostile clients: oversized headers are refused before they are read, slow
ones are cut off, and the server's memory stays flat. A real `python -m service serve` in a child process,
on this run's DynamoDB, talked to over raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from service.core.settings import Settings
from tests.support.helpers import FORM
from tests.support.process import ServiceProcess, running_service

LIMIT = Settings.model_fields["max_header_bytes"].default
TIMEOUT = 1.0  # HEADERS_TIMEOUT_SECONDS and BODY_TIMEOUT_SECONDS for these tests
MB = 1024 * 1024


@pytest.fixture
def service(settings: Settings, table: str) -> Iterator[ServiceProcess]:
    """The service, serving this test's table, with short timeouts."""
    with running_service(
        DYNAMODB_MODE="endpoint",
        AWS_ENDPOINT_URL_DYNAMODB=settings.dynamodb_endpoint or "",
        AWS_REGION=settings.aws_region,
        TABLE_NAME=settings.table_name,
        IDEMPOTENCY_TABLE_NAME=settings.idempotency_table_name,
        AUTH_MODE="none",
        HEADERS_TIMEOUT_SECONDS=str(TIMEOUT),
        BODY_TIMEOUT_SECONDS=str(TIMEOUT),
    ) as service:
        yield service


def _address(service: ServiceProcess) -> tuple[str, int]:
    host, port = service.url.removeprefix("http://").split(":")
    return host, int(port)


def _request_with_header_section_of(size: int) -> bytes:
    """GET /healthz whose request line and headers, final blank line included, are `size` bytes."""
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: "
    return head + b"a" * (size - len(head) - 4) + b"\r\n\r\n"


def _exchange(service: ServiceProcess, data: bytes) -> bytes:
    """Send `data` on a new connection and read until the server closes it (or 10 s pass)."""
    with socket.create_connection(_address(service), timeout=10) as connection:
        try:
            connection.sendall(data)
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed while we were still sending: its answer is read below
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def _status_and_body(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_a_header_section_over_the_limit_is_431_and_the_connection_closed(service: ServiceProcess) -> None:
    served = _exchange(service, _request_with_header_section_of(LIMIT))
    assert served.startswith(b"HTTP/1.1 200 "), served[:200]
    status, body = _status_and_body(_exchange(service, _request_with_header_section_of(LIMIT + 1)))
    assert status == 431
    assert body["code"] == "headers_too_large"
    # 50 MB of one header value: refused after the first LIMIT bytes, the rest never read.
    status, body = _status_and_body(_exchange(service, b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (50 * MB)))
    assert (status, body["code"]) == (431, "headers_too_large")


def _answers(answer: bytes) -> list[int]:
    """The status of each whole answer in `answer`, in order (every answer of these tests has a length)."""
    statuses = []
    while b"\r\n\r\n" in answer:
        head, _, rest = answer.partition(b"\r\n\r\n")
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
        length = int(fields[b"content-length"])
        if len(rest) < length:
            break
        statuses.append(int(head.split(b" ", 2)[1]))
        answer = rest[length:]
    return statuses


def _pipeline(service: ServiceProcess, data: bytes, answers: int) -> bytes:
    """Send `data` on a new connection, keeping it open (asyncio closes a connection its client half-closes,
    pipelined requests unanswered), and read until `answers` answers came or the server closed it."""
    with socket.create_connection(_address(service), timeout=10) as connection:
        # The server may close while we are still sending: its answer is read below.
        with contextlib.suppress(OSError):
            connection.sendall(data)
        answer = b""
        while len(_answers(answer)) < answers and (chunk := connection.recv(65536)):
            answer += chunk
        return answer


def _post(body: bytes, *, chunked: bool = False) -> bytes:
    """POST /service-request with `body`, by Content-Length or in chunks."""
    head = b"POST /service-request HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    if not chunked:
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    half = len(body) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:half], body[half:]))
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"


FIRST_REQUESTS = {
    "GET": (_request_with_header_section_of(100), 200),
    "POST": (_post(json.dumps(FORM).encode()), 201),
    "chunked POST": (_post(json.dumps(FORM).encode(), chunked=True), 201),
}


@pytest.mark.parametrize("first", FIRST_REQUESTS, ids=FIRST_REQUESTS.keys())
def test_each_pipelined_request_has_its_own_header_limit(service: ServiceProcess, first: str) -> None:
    """A request sent in the same packet as the one before it (pipelined) gets the same limit, no more:
    what the read holds of the first request does not leave the second more room."""
    request, status = FIRST_REQUESTS[first]
    for size in (LIMIT + 1, LIMIT + LIMIT // 2, 2 * LIMIT - 1):
        answer = _exchange(service, request + _request_with_header_section_of(size))
        assert _answers(answer)[-1] == 431, (size, answer[-300:])
        assert _status_and_body(answer[answer.rindex(b"HTTP/1.1 ") :])[1]["code"] == "headers_too_large"
    # Up to the limit, both are served, in order.
    answer = _pipeline(service, request + _request_with_header_section_of(LIMIT), 2)
    assert _answers(answer) == [status, 200]


# What slow clients send before trickling a byte every 0.2 s: nothing at all, the start of their headers, or
# whole headers announcing a body.
SLOW_STARTS = {
    "nothing": None,
    "headers": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n",
    "body": b"POST /service-request HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n{",
}


async def _slow_client(address: tuple[str, int], start: bytes | None) -> tuple[float, bytes]:
    """A client that sends `start`, then a byte every 0.2 s (or nothing at all, for None) until the server
    closes the connection; how long that took and what the server answered. Gives up after 10 s."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(*address)
    answer = b""
    try:
        if start is not None:
            writer.write(start)
        while time.monotonic() - started < 10:
            if start is not None:
                writer.write(b"x")
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.2)
            except TimeoutError:
                continue
            answer += chunk
            if not chunk:
                break
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.monotonic() - started, answer


async def test_connections_that_send_their_request_too_slowly_are_closed(service: ServiceProcess) -> None:
    address = _address(service)
    kinds = [kind for kind in SLOW_STARTS for _ in range(10)]
    clients = [_slow_client(address, SLOW_STARTS[kind]) for kind in kinds]
    async with httpx.AsyncClient(base_url=service.url) as api:
        # Meanwhile, clients that send their requests whole are served.
        results, *served = await asyncio.gather(
            asyncio.gather(*clients), api.get("/healthz"), api.post("/service-request", json=FORM)
        )
    assert [response.status_code for response in served] == [200, 201]
    for kind, (seconds, answer) in zip(kinds, results, strict=True):
        assert seconds < TIMEOUT + 4, f"a client sending {kind} kept its connection for {seconds:.1f} s"
        if kind == "nothing":
            assert answer == b"", "a connection that asked nothing is closed without an answer"
        else:
            assert answer.startswith(b"HTTP/1.1 408 "), (kind, answer)
            assert _status_and_body(answer)[1]["code"] == "request_timeout"


def _rss(pid: int) -> int:
    """The resident set size of process `pid`, in bytes, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@contextmanager
def _peak_rss(pid: int) -> Iterator[list[int]]:
    """Samples the RSS of `pid` every 5 ms while the block runs; the list holds [baseline, peak] after."""
    figures = [_rss(pid), 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            figures[1] = max(figures[1], _rss(pid))
            done.wait(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield figures
    finally:
        done.set()
        sampler.join()


def _flood(address: tuple[str, int], size: int, sent: threading.Barrier, release: threading.Event) -> None:
    """One connection that sends a header value of `size` bytes as fast as the server takes them, then
    keeps the connection open until `release` is set."""
    with socket.create_connection(address, timeout=10) as connection:
        try:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Flood: ")
            for _ in range(size // 65536):
                connection.sendall(b"a" * 65536)
        except OSError:
            pass  # refused and closed: what should happen
        sent.wait()
        release.wait(30)


def test_the_servers_memory_stays_flat_while_clients_send_huge_headers(service: ServiceProcess) -> None:
    """30 connections at once, each sending a 4 MB header: without a bound the server would hold 120 MB of
    them; with it, each connection costs the server at most a few reads."""
    pid = service.process.pid
    for _ in range(20):  # warm up: the first requests allocate what every later one reuses
        assert httpx.get(f"{service.url}/healthz").status_code == 200
    connections, size = 30, 4 * MB
    sent, release = threading.Barrier(connections + 1), threading.Event()
    floods = [
        threading.Thread(target=_flood, args=(_address(service), size, sent, release))
        for _ in range(connections)
    ]
    with _peak_rss(pid) as figures:
        for flood in floods:
            flood.start()
        sent.wait(60)
        time.sleep(1)  # the server reads what is still on its way
    release.set()
    for flood in floods:
        flood.join()
    baseline, peak = figures
    growth = peak - baseline
    print(f"RSS {baseline / MB:.1f} MB before, {peak / MB:.1f} MB at the peak of {connections} floods")
    assert growth < 16 * MB, f"the server grew by {growth / MB:.1f} MB while clients sent huge headers"
    assert httpx.get(f"{service.url}/healthz").status_code == 200
