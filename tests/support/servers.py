"""Servers that the tests and the benchmarks start on 127.0.0.1: moto's DynamoDB, the pinned dynalite, small
JSON endpoints that stand in for others, and a TCP relay that counts connections."""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from moto.server import ThreadedMotoServer

HOST = "127.0.0.1"
# dynalite, pinned by its package-lock.json and installed with `npm ci` (by make, or here on first use).
DYNALITE_DIR = Path(__file__).resolve().parents[1] / "dynalite"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on at the moment."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate a child we started, and kill it when it does not go."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def moto_server(port: int = 0) -> Iterator[str]:
    """moto's server in a thread of this process, on `port` of 127.0.0.1 (a free one by default); its URL.
    moto keeps its data in the process, so a server started again on the same port finds it."""
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.stop()


@contextmanager
def dynalite_server() -> Iterator[str]:
    """The pinned dynalite in memory on a free port of 127.0.0.1, tables ready at once; its URL."""
    binary = DYNALITE_DIR / "node_modules" / ".bin" / "dynalite"
    if not binary.exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],  # noqa: S607 - npm from PATH, as make does
            cwd=DYNALITE_DIR,
            check=True,
        )
    port = free_port()
    delays = ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    process = subprocess.Popen(  # noqa: S603 - the pinned package's own entry point
        [str(binary), "--host", HOST, "--port", str(port), *delays],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_listening(port, process, timeout=30)
        yield f"http://{HOST}:{port}"
    finally:
        stop_process(process)
        if process.stderr:
            process.stderr.close()


def wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Return once `process` listens on `port` of 127.0.0.1; raise if it exits or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else b""
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}: {stderr!r}")
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout:.0f} s")
        time.sleep(0.1)


@dataclass(frozen=True)
class Request:
    """What a JSON endpoint was sent."""

    method: str
    path: str
    headers: Message
    body: bytes


@dataclass(frozen=True)
class Answer:
    """What a JSON endpoint answers: a status and a body that is sent as JSON."""

    status: int
    body: Any
    content_type: str = "application/json"


@contextmanager
def json_server(answer: Callable[[Request], Answer], *, keep_alive: bool = False) -> Iterator[str]:
    """An HTTP server on a free port of 127.0.0.1 that answers every GET and POST with `answer(request)`,
    each connection from a thread of its own, closed after one answer unless `keep_alive`; its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            sent = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            reply = answer(Request(self.command, self.path, self.headers, sent))
            body = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Relay:
    """A TCP relay's count of the connections made through it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.made = 0
        self.open = 0

    def _count(self, change: int) -> None:
        with self._lock:
            self.made += max(change, 0)
            self.open += change

    def wait_until_closed(self, timeout: float = 10) -> bool:
        """True once every connection made through the relay is closed by its client."""
        deadline = time.monotonic() + timeout
        while self.open and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.open


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy what `source` sends to `target` until `source` is done, then tell `target` no more is coming."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@contextmanager
def tcp_relay(url: str) -> Iterator[tuple[str, Relay]]:
    """A relay on a free port of 127.0.0.1 to the server at `url`, which counts the connections a client
    makes through it and how many it still holds open; the relay's URL and its count."""
    target = urlsplit(url)
    relay = Relay()

    class Connection(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            relay._count(+1)
            try:
                with socket.create_connection((target.hostname, target.port)) as upstream:
                    answers = threading.Thread(target=_pump, args=(upstream, self.request), daemon=True)
                    answers.start()
                    _pump(self.request, upstream)  # until the client closes its end
                    answers.join(timeout=10)
            finally:
                relay._count(-1)

    server = socketserver.ThreadingTCPServer((HOST, 0), Connection)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}", relay
    finally:
        server.shutdown()
        server.server_close()
