"""A TCP proxy on 127.0.0.1 in front of a DynamoDB-protocol server that holds every HTTP message a fixed time
in each direction, and notes each exchange: its operation, when it started and ended, the write units it used.

    python -m bench.latency_proxy --upstream http://127.0.0.1:PORT --delay-ms 2

It prints its own URL on its first line, then reads commands on stdin, one a line: `delay MS` sets the delay
of the messages read from then on; `dump` prints (one line of JSON) the exchanges finished since the last
`dump`. It stops when stdin closes.

Each request is held `delay` from the moment its last byte arrived, then sent on; each answer likewise; the
messages of one connection keep their order. The first request of a connection is held two delays more: the
TCP handshake (SYN, SYN-ACK) a real network makes the client wait before its request can leave. Writes are
sent on with `"ReturnConsumedCapacity": "TOTAL"` unless they ask for it themselves, so that the server's
answer reports the write units used (see `write_units`). The event loop waits in select(), whose timeout has
microsecond resolution (epoll's is a millisecond, which would add up to 1 ms to every hold).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import selectors
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

HOST = "127.0.0.1"
TARGET_PREFIX = "DynamoDB_20120810."
WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteStatement"}
)
_CHUNK = 65536


@dataclass
class Exchange:
    """One request and its answer, on the proxy's monotonic clock (ns, CLOCK_MONOTONIC, as the runners')."""

    connection: int
    first_on_connection: bool
    operation: str
    started: int  # the request's first byte reached the proxy
    ended: int = 0  # the answer was handed to the client
    sent: int = 0  # the request was handed to the server
    answered: int = 0  # the answer's last byte came from the server
    status: int = 0
    error: str = ""
    write_units: float = 0.0
    units_reported: bool = True  # False: a write answered 200 without ConsumedCapacity
    late_us: list[float] = field(default_factory=list)  # how much later than due each message left


@dataclass
class Message:
    head: bytes
    body: bytes
    first_byte: int
    last_byte: int


class MessageReader:
    """HTTP/1.1 messages from a stream, framed by Content-Length or chunked encoding."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buffer = bytearray()
        self._first_byte = 0
        self._last_byte = 0

    async def _fill(self) -> bool:
        data = await self._reader.read(_CHUNK)
        if not data:
            return False
        now = time.monotonic_ns()
        if not self._buffer:
            self._first_byte = now
        self._last_byte = now
        self._buffer += data
        return True

    async def _until(self, marker: bytes, start: int = 0) -> int:
        while (found := self._buffer.find(marker, start)) < 0:
            if not await self._fill():
                raise EOFError
        return found

    async def _exactly(self, end: int) -> None:
        while len(self._buffer) < end:
            if not await self._fill():
                raise EOFError

    async def read(self) -> Message | None:
        """The next message, or None when the stream ends between messages."""
        if not self._buffer and not await self._fill():
            return None
        first_byte = self._first_byte
        end_of_head = await self._until(b"\r\n\r\n") + 4
        head = bytes(self._buffer[:end_of_head])
        headers = _headers(head)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, end = await self._chunked(end_of_head)
        else:
            end = end_of_head + int(headers.get("content-length", "0"))
            await self._exactly(end)
            body = bytes(self._buffer[end_of_head:end])
        whole = bytes(self._buffer[:end])
        del self._buffer[:end]
        last_byte = self._last_byte
        if self._buffer:  # the next message began in the same read
            self._first_byte = last_byte
        return Message(whole[:end_of_head], body, first_byte, last_byte)

    async def _chunked(self, position: int) -> tuple[bytes, int]:
        body = bytearray()
        while True:
            line_end = await self._until(b"\r\n", position)
            size = int(bytes(self._buffer[position:line_end]).split(b";")[0], 16)
            position = line_end + 2
            if size == 0:
                return bytes(body), await self._until(b"\r\n", position) + 2  # no trailers from these clients
            await self._exactly(position + size + 2)
            body += self._buffer[position : position + size]
            position += size + 2


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def _with_body(head: bytes, body: bytes) -> bytes:
    """The message with `body`, framed by Content-Length."""
    lines = head.decode("latin-1").split("\r\n")
    kept = [
        line
        for line in lines[1:]
        if line and line.split(":", 1)[0].strip().lower() not in ("content-length", "transfer-encoding")
    ]
    return "\r\n".join([lines[0], *kept, f"Content-Length: {len(body)}", "", ""]).encode("latin-1") + body


def asking_capacity(message: Message, operation: str) -> bytes:
    """The request as sent on: a write without ReturnConsumedCapacity asks for it."""
    whole = message.head + message.body
    if operation not in WRITES or not message.body:
        return whole
    payload = json.loads(message.body)
    if not isinstance(payload, dict) or "ReturnConsumedCapacity" in payload:
        return whole
    payload["ReturnConsumedCapacity"] = "TOTAL"
    return _with_body(message.head, json.dumps(payload, separators=(",", ":")).encode())


def write_units(operation: str, status: int, body: bytes) -> tuple[float, str, bool]:
    """The write units an answer reports, its error type, and whether a write's units were reported.

    A conditional write that DynamoDB refuses still uses write capacity: the size of the item it was
    checked against, at least one unit. The items here are all under 1 KB, and the refusal does not say
    what it checked, so a refused write counts one unit."""
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    error = str(answer.get("__type", "")).rsplit("#", 1)[-1] if status >= 400 else ""
    if operation not in WRITES:
        return 0.0, error, True
    if error == "ConditionalCheckFailedException":
        return 1.0, error, True
    consumed = answer.get("ConsumedCapacity")
    if consumed is None:
        return 0.0, error, status >= 400
    entries = consumed if isinstance(consumed, list) else [consumed]
    return sum(float(entry.get("CapacityUnits", 0)) for entry in entries), error, True


class Proxy:
    def __init__(self, upstream: tuple[str, int], delay_ms: float) -> None:
        self._upstream = upstream
        self.delay_ns = int(delay_ms * 1e6)
        self._connections = itertools.count(1)
        self.finished: list[Exchange] = []

    async def _hold_until(self, due: int) -> float:
        """Sleep until `due` (ns); how late it woke, in microseconds."""
        wait = (due - time.monotonic_ns()) / 1e9
        if wait > 0:
            await asyncio.sleep(wait)
        return (time.monotonic_ns() - due) / 1000

    async def serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        accepted = time.monotonic_ns()
        number = next(self._connections)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_writer.close()
            return
        pending: deque[Exchange] = deque()
        requests: asyncio.Queue[tuple[int, bytes, Exchange] | None] = asyncio.Queue()
        answers: asyncio.Queue[tuple[int, bytes, Exchange] | None] = asyncio.Queue()

        async def read_requests() -> None:
            reader = MessageReader(client_reader)
            handshake_done = accepted + 3 * self.delay_ns
            for index in itertools.count():
                message = await reader.read()
                if message is None:
                    break
                target = _headers(message.head).get("x-amz-target", "")
                operation = target.removeprefix(TARGET_PREFIX)
                exchange = Exchange(number, index == 0, operation, message.first_byte)
                pending.append(exchange)
                due = message.last_byte + self.delay_ns
                if index == 0:
                    due = max(due, handshake_done)
                await requests.put((due, asking_capacity(message, operation), exchange))
            await requests.put(None)

        async def read_answers() -> None:
            reader = MessageReader(upstream_reader)
            while (message := await reader.read()) is not None:
                exchange = pending.popleft()
                exchange.answered = message.last_byte
                exchange.status = int(message.head.split(b" ", 2)[1])
                units, error, reported = write_units(exchange.operation, exchange.status, message.body)
                exchange.write_units, exchange.error, exchange.units_reported = units, error, reported
                await answers.put((message.last_byte + self.delay_ns, message.head + message.body, exchange))
            await answers.put(None)

        async def send(
            queue: asyncio.Queue[tuple[int, bytes, Exchange] | None], writer: asyncio.StreamWriter, last: bool
        ) -> None:
            while (entry := await queue.get()) is not None:
                due, data, exchange = entry
                exchange.late_us.append(await self._hold_until(due))
                # Stamped before the message leaves: the client may be done with an answer before this
                # process runs again.
                if last:
                    exchange.ended = time.monotonic_ns()
                    self.finished.append(exchange)
                else:
                    exchange.sent = time.monotonic_ns()
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        tasks = [
            asyncio.create_task(read_requests()),
            asyncio.create_task(read_answers()),
            asyncio.create_task(send(requests, upstream_writer, last=False)),
            asyncio.create_task(send(answers, client_writer, last=True)),
        ]
        try:
            await asyncio.gather(*tasks)
        except (OSError, EOFError, IndexError, ValueError, asyncio.CancelledError):
            # A connection broken, or the proxy stopping: asyncio's server logs a handler that raised.
            pass
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_writer, upstream_writer):
                writer.close()


async def _commands(proxy: Proxy) -> None:
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command, _, argument = line.strip().partition(" ")
        if command == "delay":
            proxy.delay_ns = int(float(argument) * 1e6)
            print(json.dumps({"delay_ms": proxy.delay_ns / 1e6}), flush=True)
        elif command == "dump":
            finished, proxy.finished = proxy.finished, []
            print(json.dumps([asdict(exchange) for exchange in finished]), flush=True)


async def _main(upstream: str, delay_ms: float) -> None:
    address = urlsplit(upstream)
    if address.hostname != HOST or address.port is None:
        raise SystemExit(f"the upstream must be on {HOST}: {upstream}")
    proxy = Proxy((address.hostname, address.port), delay_ms)
    server = await asyncio.start_server(proxy.serve, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    print(f"http://{HOST}:{port}", flush=True)
    try:
        await _commands(proxy)
    finally:
        server.close()
        # The connections still open end with the process: nothing is waiting for their answers.
        others = asyncio.all_tasks() - {asyncio.current_task()}
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--upstream", required=True, help=f"the server's URL, on {HOST}")
    parser.add_argument("--delay-ms", type=float, default=2.0, help="each message's hold, each way")
    args = parser.parse_args()
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        loop.run_until_complete(_main(args.upstream, args.delay_ms))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
