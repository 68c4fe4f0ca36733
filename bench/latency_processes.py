"""The processes of bench/latency.py, all on 127.0.0.1 and all stopped when it ends: dynalite, the delaying
proxy, and the two long-lived runners (the service's handler, the course's Node.js functions)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench.common import NODE_DIR, ROOT
from bench.latency_lambda import REPLY

HOST = "127.0.0.1"
# dynalite as the tests pin it (tests/dynalite/package-lock.json; `make bench-latency` installs it).
DYNALITE = ROOT / "tests" / "dynalite" / "node_modules" / ".bin" / "dynalite"
LOG_DIR = ROOT / "build" / "bench-latency"
# No batch of invocations takes this long unless something is stuck.
BATCH_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


async def _stop(process: asyncio.subprocess.Process) -> None:
    """End a child this benchmark started: its stdin closed (the runners and the proxy stop on that), then
    terminated, then killed."""
    if process.stdin is not None:
        process.stdin.close()
    for signal in (None, process.terminate, process.kill):
        if signal is not None and process.returncode is None:
            signal()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=5)
            return


class Child:
    """A child that answers one line on stdout per line sent on stdin (lines marked `@bench`, for runners
    that write their own output too)."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path | None) -> None:
        self.name = name
        self._process = process
        self._log = log

    async def ask(self, line: str, *, marked: bool = True) -> Any:
        assert self._process.stdin is not None
        self._process.stdin.write(line.encode() + b"\n")
        await self._process.stdin.drain()
        return await asyncio.wait_for(self._answer(marked), timeout=BATCH_TIMEOUT)

    async def _answer(self, marked: bool) -> Any:
        assert self._process.stdout is not None
        while True:
            line = (await self._process.stdout.readline()).decode()
            if not line:
                where = f"; see {self._log.relative_to(ROOT)}" if self._log else ""
                raise SystemExit(f"{self.name} stopped{where}")
            if not marked:
                return json.loads(line)
            if line.startswith(REPLY):
                return json.loads(line.removeprefix(REPLY))


@asynccontextmanager
async def child(
    name: str, command: list[str], *, env: dict[str, str], cwd: Path, log: bool = True
) -> AsyncIterator[tuple[Child, asyncio.subprocess.Process]]:
    """A child whose stderr goes to build/bench-latency/NAME.log."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{name}.log" if log else None
    stderr = os.open(log_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            limit=2**24,  # a dump of the proxy's exchanges is one long line
        )
    finally:
        os.close(stderr)
    try:
        yield Child(name, process, log_path), process
    finally:
        await _stop(process)


@asynccontextmanager
async def dynalite() -> AsyncIterator[str]:
    """The pinned dynalite in memory on a free port of 127.0.0.1, tables ready at once; its URL."""
    if not DYNALITE.exists():
        raise SystemExit(f"dynalite is missing: make {DYNALITE.parent.parent / '.installed'}")
    port = _free_port()
    delays = ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    process = await asyncio.create_subprocess_exec(
        str(DYNALITE),
        "--host",
        HOST,
        "--port",
        str(port),
        *delays,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.returncode is not None:
                raise SystemExit(f"dynalite exited with {process.returncode}")
            with socket.socket() as probe:
                if probe.connect_ex((HOST, port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("dynalite did not listen within 30 s")
            await asyncio.sleep(0.1)
        yield f"http://{HOST}:{port}"
    finally:
        await _stop(process)


class Proxy:
    """The delaying proxy (bench/latency_proxy.py) in its own process, so that its waits and its work never
    share an interpreter with the service under test."""

    def __init__(self, control: Child, process: asyncio.subprocess.Process) -> None:
        self._control = control
        self._process = process
        self.url = ""

    async def delay(self, milliseconds: float) -> None:
        await self._control.ask(f"delay {milliseconds}", marked=False)

    async def exchanges(self) -> list[dict[str, Any]]:
        """Every exchange finished since the last call."""
        found: list[dict[str, Any]] = await self._control.ask("dump", marked=False)
        return found


@asynccontextmanager
async def proxy(upstream: str, delay_ms: float, env: dict[str, str]) -> AsyncIterator[Proxy]:
    command = [sys.executable, "-m", "bench.latency_proxy", "--upstream", upstream]
    command += ["--delay-ms", str(delay_ms)]
    async with child("proxy", command, env=env, cwd=ROOT) as (control, process):
        running = Proxy(control, process)
        assert process.stdout is not None
        running.url = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode().strip()
        if not running.url.startswith(f"http://{HOST}:"):
            raise SystemExit("the proxy did not start; see build/bench-latency/proxy.log")
        yield running


def node_runner_command() -> list[str]:
    return ["node", str(NODE_DIR / "latency_runner.mjs")]
