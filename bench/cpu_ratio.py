"""The CPU per `GET /requests/{plate}/{id}` of the whole service process (uvicorn, the app, the request log,
the DynamoDB client) against the bare client's process making the same GetItem, both with 32 requests in
flight against dynalite on 127.0.0.1: the CPU/request ratio of bench.api_load, counted by valgrind's
callgrind instead of timed, so that no other load on the machine moves it.

    .venv/bin/python -m bench.cpu_ratio [--requests 1000] [--before DIR]     # a few minutes

Each side runs twice, once serving (or making) REQUESTS calls more than the other, after the same warm-up;
the difference of the two processes' instruction counts, divided by REQUESTS, is one call's. The service
runs as `make run` runs it (`python -m service serve`, default settings, request logs on, written to
/dev/null); the bare client is opened as the service opens its own and runs on uvloop, as `serve` does.
`--before DIR` counts both sides of an earlier checkout too (`git worktree add DIR COMMIT`): its service,
and the bare client with its client settings.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import uvloop

from bench.api_load import drive, prepare, service_calls, service_env
from bench.common import CALLGRIND, ROOT, collected, instructions
from tests.support.servers import dynalite_server, free_port, wait_until_listening

IN_FLIGHT = 32
WARM_UP = 200
# How long a service under valgrind may take to start listening (it runs about 50 times slower).
START_SECONDS = 600
# Under valgrind, DynamoDB calls wait their turn far longer than the defaults allow: no attempt may time out
# and be retried, or the retry would be counted as the call's work.
PATIENT = {"dynamodb_connect_timeout": 60.0, "dynamodb_read_timeout": 60.0, "dynamodb_deadline": 120.0}

# The bare side, run by `python -c` in a checkout: bench.api_load's own GetItem, on the client as the
# checkout's service opens it. argv: the number of calls, the endpoint, the item's key.
BARE = """
import math, sys
from contextlib import AsyncExitStack
import uvloop
from bench.api_load import bare_calls, drive
from bench.table import bench_settings
from service.storage.backend import open_client

async def main(calls, endpoint, plate, service_id):
    async with AsyncExitStack() as stack:
        client = await open_client(bench_settings(endpoint, **PATIENT), stack)
        await drive(bare_calls(client, (plate, service_id))["get"], calls, IN_FLIGHT, seconds=math.inf)

uvloop.run(main(int(sys.argv[1]), *sys.argv[2:]))
"""


async def _send(base: str, key: tuple[str, str], calls: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as session:
        await drive(service_calls(session, base, key)["get"], calls, IN_FLIGHT, seconds=math.inf)


def _service(endpoint: str, key: tuple[str, str], calls: int, checkout: Path) -> int:
    """The instructions of a service process of `checkout` that starts, serves `calls` GETs and stops."""
    with tempfile.TemporaryDirectory() as work:
        return _served(endpoint, key, calls, checkout, Path(work) / "callgrind.log")


def _served(endpoint: str, key: tuple[str, str], calls: int, checkout: Path, log: Path) -> int:
    port = free_port()
    patient = {name.upper(): str(value) for name, value in PATIENT.items()}
    env = {**service_env(endpoint, port), **patient, "SHUTDOWN_DRAIN_SECONDS": "0", "PYTHONHASHSEED": "0"}
    process = subprocess.Popen(
        [*CALLGRIND, f"--log-file={log}", sys.executable, "-m", "service", "serve"],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port, process, timeout=START_SECONDS)
        uvloop.run(_send(f"http://127.0.0.1:{port}", key, calls))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=START_SECONDS)
    return collected(log.read_text())


def _bare(endpoint: str, key: tuple[str, str], calls: int, checkout: Path) -> int:
    """The instructions of a process that opens the client as `checkout` does, makes `calls` GetItems and
    exits."""
    code = BARE.replace("IN_FLIGHT", str(IN_FLIGHT)).replace("PATIENT", repr(PATIENT))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(checkout)}
    return instructions([sys.executable, "-c", code, str(calls), endpoint, *key], env, checkout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="calls counted")
    parser.add_argument("--before", type=Path, help="an earlier checkout, counted beside")
    args = parser.parse_args()
    checkouts = [ROOT, *([args.before.resolve()] if args.before else [])]
    per_call: dict[tuple[Path, str], float] = {}
    with dynalite_server() as endpoint:
        key = uvloop.run(prepare(endpoint))
        for checkout in checkouts:
            for side, run in (("service", _service), ("bare", _bare)):
                counted = functools.partial(run, endpoint, key, checkout=checkout)
                with ThreadPoolExecutor(max_workers=2) as pool:
                    fewer, more = pool.map(counted, (WARM_UP, WARM_UP + args.requests))
                per_call[checkout, side] = (more - fewer) / args.requests
    print(f"Instructions per GET /requests/{{plate}}/{{id}}, {IN_FLIGHT} in flight (valgrind's callgrind):")
    print(f"  {'':40}{'service process':>16}{'bare client':>14}{'ratio':>8}")
    for checkout in checkouts:
        label = "this checkout" if checkout == ROOT else str(args.before)
        service, bare = per_call[checkout, "service"], per_call[checkout, "bare"]
        print(f"  {label:40}{service:>16,.0f}{bare:>14,.0f}{service / bare:>7.2f}x")


if __name__ == "__main__":
    main()
