"""Where a request's CPU goes, layer by layer, and what a warm Lambda invocation costs beside its bare calls.

    .venv/bin/python -m bench.request_path [--requests 3000] [--rounds 5] [--invocations 300]
    .venv/bin/python -m bench.request_path --instructions [--before DIR]   # valgrind: a few minutes

Everything runs in this process, on uvloop, against dynalite on 127.0.0.1, with the service's own client
settings and default settings otherwise (request logs on, written to /dev/null). For
`GET /requests/{plate}/{id}` it measures the CPU time per request (user + system of this process, median of
interleaved rounds) of ever larger parts of the request path, each including the one before:

1. the DynamoDB client: one consistent GetItem;
2. the repository: the same read through `Repository.get` (deadline guard, item to model);
3. the routes: the app's router called directly (routing, dependencies, validation, the route, the answer
   serialised);
4. the app: the whole ASGI app (its middlewares: request log and id, CORS, limits, headers, errors).

The HTTP server's share (uvicorn, httptools) is the rest of the CPU per request that `bench.api_load`
measures for the service process. The Lambda part times warm `GET /service-request` invocations of the
handler (API Gateway REST events, the public list read every time) against the six Queries of that list
made concurrently on a bare client: the billed duration's counterpart.

CPU time on a shared virtual machine moves by 10-20% from run to run. `--instructions` counts instead, under
valgrind's callgrind, the instructions of the service's own work per `GET /requests/{plate}/{id}`: the whole
app (middlewares, routing, dependencies, validation, the route, serialisation, the log line) with the
repository answering from memory, so no DynamoDB client and no network. It is the difference between a
process making OWN_REQUESTS requests and one making none, and no other load on the machine changes it.
`--before DIR` counts a checkout of an earlier commit the same way, beside.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvloop
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware

from bench.api_load import bare_calls, prepare
from bench.common import ROOT, instructions
from bench.table import REGION, TABLE, bench_settings
from service.core.logs import configure_logging
from service.http.app import create_app
from service.storage.backend import open_client
from tests.support.lambda_events import Context, rest_api
from tests.support.servers import dynalite_server

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message

    from service.core.settings import Settings

Step = Callable[[], Awaitable[None]]
LAYERS = (
    ("client", "DynamoDB client (GetItem)"),
    ("repository", "repository (guard, model)"),
    ("routes", "routes (routing, deps, validation, JSON)"),
    ("app", "app (middlewares)"),
)
OWN_REQUESTS = 1000
# Run by `python -c` in a checkout: its app, with the repository's read answered from memory. argv: the
# number of requests (after 200 unmeasured), the log level.
OWN_WORK = """
import gc, os, sys
import uvloop
from service.http.app import create_app
from service.core.logs import configure_logging
from service.core.models import ServiceRequest
from service.core.settings import Settings

ITEM = ServiceRequest.model_validate({
    "license_plate": "ABC123", "service_id": "01JABCDEFGHJKMNPQRSTVWXYZ0", "phone_number": "208-555-0101",
    "service_description": "Oil change and tire rotation", "service_status": "Accepted",
    "created_at": "2026-11-26T15:04:05.123Z", "updated_at": "2026-11-26T15:04:05.123Z", "version": 3,
})
PATH = "/requests/ABC123/01JABCDEFGHJKMNPQRSTVWXYZ0"
SCOPE = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
    "path": PATH, "raw_path": PATH.encode(),
    "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    "headers": [(b"host", b"localhost:8000"), (b"accept", b"*/*"), (b"user-agent", b"bench")],
}

async def main(requests, level):
    configure_logging(level, "json", open(os.devnull, "w"))
    app = create_app(Settings(dynamodb_endpoint="http://127.0.0.1:9", auth_mode="none", log_level=level))
    repository = await app.state.backend.repository()
    async def get(keys):
        return ITEM
    repository.get = get
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(message["status"])
    # As `serve` runs: what start-up built frozen, collections every 10,000 allocations. Left to Python's
    # defaults, a full collection falls in the measured requests or not, and moves the count by a tenth.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])
    for _ in range(200 + requests):
        await app({**SCOPE, "state": {}}, receive, send)

uvloop.run(main(int(sys.argv[1]), sys.argv[2]))
"""


def _settings(endpoint: str, **overrides: Any) -> Settings:
    """Default settings but for the benchmark's table and endpoint: request logs on, no token checks (as
    `make run`), the public list read every time (its Queries are what is compared)."""
    return bench_settings(endpoint, log_level="INFO", public_list_cache_seconds=0, **overrides)


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost:8000"), (b"accept", b"*/*"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


def _asgi_call(asgi: ASGIApp, path: str, **scope: Any) -> Step:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def call() -> None:
        status = 0

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await asgi({**_scope(path), **scope}, receive, send)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}")

    return call


async def _cpu_per_call(step: Step, requests: int) -> float:
    """CPU seconds of this process per call, `requests` calls one after another."""
    started = time.process_time()
    for _ in range(requests):
        await step()
    return (time.process_time() - started) / requests


async def _layers(endpoint: str, known: tuple[str, str], requests: int, rounds: int) -> dict[str, float]:
    """Median CPU per request of each cumulative layer, rounds interleaved."""
    settings = _settings(endpoint)
    app = create_app(settings)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        repository = await app.state.backend.repository()
        client = await app.state.backend.client()
        plate, service_id = known
        key = {"license_plate": {"S": plate}, "service_id": {"S": service_id}}

        async def bare() -> None:
            await client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)

        async def repo() -> None:
            await repository.get([(plate, service_id)])

        path = f"/requests/{plate}/{service_id}"
        steps: dict[str, Step] = {
            "client": bare,
            "repository": repo,
            # What the app's outermost layer puts in the scope, which the routes read.
            "routes": _asgi_call(AsyncExitStackMiddleware(app.router), path, app=app),
            "app": _asgi_call(app, path),
        }
        samples: dict[str, list[float]] = {name: [] for name in steps}
        for step in steps.values():
            await _cpu_per_call(step, requests // 10)  # warm up every path
        for _ in range(rounds):
            for name, step in steps.items():
                samples[name].append(await _cpu_per_call(step, requests))
    return {name: statistics.median(values) for name, values in samples.items()}


def _lambda(endpoint: str, known: tuple[str, str], invocations: int, rounds: int) -> tuple[float, float]:
    """Median wall time of a warm `GET /service-request` invocation, and of the six bare Queries."""
    # Imported here: importing the handler's module initialises the function from the environment, which
    # has no settings for it (its complaint goes to the log, which is /dev/null by now).
    from lambda_adapter.handler import LambdaAdapter

    # As deployed: API Gateway's authorizer checks technicians (the public list needs none).
    adapter = LambdaAdapter(_settings(endpoint, auth_mode="gateway"))
    event = rest_api("GET", "/service-request")
    context = Context()
    if adapter(event, context)["statusCode"] != 200:  # the cold one: builds the app, opens the client
        raise SystemExit("GET /service-request did not answer 200 through the handler")
    # Lambda's runtime runs asyncio's own loop (uvloop is not in the package): so does the bare client.
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    durations: list[float] = []
    bare: list[float] = []
    try:
        client = loop.run_until_complete(open_client(_settings(endpoint), stack))
        public_list = bare_calls(client, known)["public"]  # what the handler reads: six Queries, concurrently
        for _ in range(rounds):
            for _ in range(invocations):
                started = time.perf_counter()
                adapter(event, context)
                durations.append(time.perf_counter() - started)
            for _ in range(invocations):
                started = time.perf_counter()
                loop.run_until_complete(public_list())
                bare.append(time.perf_counter() - started)
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
        adapter.close()
    return statistics.median(durations), statistics.median(bare)


def _own_env(checkout: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(checkout), "AWS_REGION": REGION}


def _own_count(checkout: Path, log_level: str, requests: int) -> int:
    command = [sys.executable, "-c", OWN_WORK, str(requests), log_level]
    return instructions(command, _own_env(checkout), checkout)


def _compile(checkout: Path) -> None:
    """Run the work once, so that both counted processes find every module compiled: one compiling what the
    other finds cached would count the compilation as requests' work."""
    command = [sys.executable, "-c", OWN_WORK, "0", "INFO"]
    subprocess.run(command, env=_own_env(checkout), cwd=checkout, check=True, capture_output=True)


def _print_own_instructions(before: list[Path]) -> None:
    """The instructions of the service's own work per GET (see the module's text), in this checkout with
    request logs on and off, and in each of `before` with logs on; the counts run side by side, one a CPU."""
    runs = [
        (label, checkout, level, requests)
        for label, checkout, levels in [
            ("this checkout", ROOT, ("INFO", "WARNING")),
            *((str(path), path, ("INFO",)) for path in before),
        ]
        for level in levels
        for requests in (0, OWN_REQUESTS)
    ]
    for checkout in [ROOT, *before]:
        _compile(checkout)
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        counts = list(pool.map(lambda run: _own_count(*run[1:]), runs))
    counted = {run[:3]: count for run, count in zip(runs, counts, strict=True) if run[3] == OWN_REQUESTS}
    idle = {run[:3]: count for run, count in zip(runs, counts, strict=True) if run[3] == 0}
    print("Instructions per GET /requests/{plate}/{id}, the service's own work (valgrind's callgrind):")
    first = None
    for key in counted:
        label, _, level = key
        per_request = (counted[key] - idle[key]) / OWN_REQUESTS
        first = first or per_request
        logs = "request logs on" if level == "INFO" else "request logs off"
        print(f"  {label:40}{logs:20}{per_request:>12,.0f}{per_request / first:>8.2f}x")


def arguments() -> argparse.ArgumentParser:
    """The command line, its defaults what `make bench` runs (docs/performance.md states them)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per layer and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--invocations", type=int, default=300, help="Lambda invocations per round")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument(
        "--instructions", action="store_true", help="count the service's own instructions per GET instead"
    )
    parser.add_argument(
        "--before", type=Path, nargs="+", default=[], help="with --instructions: earlier checkouts, beside"
    )
    return parser


def main() -> None:
    args = arguments().parse_args()
    if args.instructions:
        _print_own_instructions(args.before)
        return
    # Request logs on, as by default, written where they cost what they cost but are not read.
    configure_logging("INFO", "json", open(os.devnull, "w"))  # noqa: SIM115 - for the process's life
    with dynalite_server() as endpoint:
        known = uvloop.run(prepare(endpoint))
        layers = uvloop.run(_layers(endpoint, known, args.requests, args.rounds))
        invocation, bare = _lambda(endpoint, known, args.invocations, args.rounds)
    print(f"CPU per GET /requests/{{plate}}/{{id}}, in process (median of {args.rounds} interleaved rounds):")
    previous = 0.0
    for name, label in LAYERS:
        print(f"  {label:44}{layers[name] * 1e6:>8.0f} us total {(layers[name] - previous) * 1e6:>+8.0f} us")
        previous = layers[name]
    print(f"  {'app against the bare client':44}{layers['app'] / layers['client']:>8.2f}x")
    print(f"\nWarm Lambda GET /service-request (median of {args.rounds} x {args.invocations}):")
    print(f"  {'handler invocation':44}{invocation * 1000:>8.2f} ms")
    print(f"  {'six bare Queries, concurrently':44}{bare * 1000:>8.2f} ms")
    print(f"  {'invocation against the bare Queries':44}{invocation / bare:>8.2f}x")
    if args.json:
        print(
            json.dumps(
                {
                    "layers_us": {k: v * 1e6 for k, v in layers.items()},
                    "lambda_ms": invocation * 1000,
                    "bare_ms": bare * 1000,
                }
            )
        )
    sys.stdout.flush()
    logging.shutdown()


if __name__ == "__main__":
    main()
