"""What the public routes' abuse limits cost and save. dynalite on 127.0.0.1 holds 1,000 requests, 50 of them
active; the service runs in this process (httpx over ASGI, AUTH_MODE=none: a caller without Authorization
is anonymous), its DynamoDB calls counted through botocore's events.

- The public list under a burst of page views, read every time (PUBLIC_LIST_CACHE_SECONDS=0) and from the
  per-instance copy (the default, 2 s): DynamoDB Queries per page view and page views per second.
- The public form: an anonymous form beside a technician's create without Idempotency-Key (DynamoDB calls
  and median time each), a repeat of the same form, and a flood of different forms from one address with
  the default limit: how many are stored, how many refused, and what a refused one costs.

    .venv/bin/python -m bench.abuse [--views 2000] [--forms 200]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from asgi_lifespan import LifespanManager

from bench.table import Requests, bench_settings, load, table_client
from service.http.app import create_app
from tests.support.servers import dynalite_server

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

CONCURRENCY = 32
FLOOD = 300


class CallCounter:
    """The service's DynamoDB calls, by operation, once DynamoDB answered them."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def hook(self, client: DynamoDBClient) -> None:
        client.meta.events.register("after-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def total(self) -> int:
        return sum(self.calls.values())


@dataclass
class Run:
    count: int
    seconds: float
    latencies: list[float]
    calls: Counter[str]

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    def calls_each(self, operation: str | None = None) -> float:
        counted = self.calls[operation] if operation else sum(self.calls.values())
        return counted / self.count


@asynccontextmanager
async def service(
    endpoint: str, address: str = "127.0.0.1", **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, CallCounter]]:
    """The service in this process, called from `address` (limits count by it across instances: each run
    that counts comes from an address of its own)."""
    # A burst read every time keeps dynalite busy for seconds: measured, not cut short by the deadline.
    app = create_app(bench_settings(endpoint, **{"dynamodb_deadline": 60.0, **settings}))
    counter = CallCounter()
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=(address, 50_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            counter.hook(await app.state.backend.client())
            yield client, counter


async def drive(counter: CallCounter, calls: list[Call], concurrency: int) -> tuple[Run, Counter[int]]:
    """Every call of `calls`, `concurrency` at a time; the run, and the answers' statuses."""
    pending = iter(calls)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    counter.calls.clear()

    async def worker() -> None:
        for call in pending:
            started = time.perf_counter()
            response = await call()
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] += 1

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return Run(len(calls), time.perf_counter() - started, latencies, Counter(counter.calls)), statuses


def _expect(statuses: Counter[int], *expected: int) -> None:
    if set(statuses) - set(expected):
        raise SystemExit(f"unexpected answers: {dict(statuses)}")


async def public_list(endpoint: str, views: int) -> dict[str, Run]:
    runs = {}
    for label, seconds in (("read every time", 0.0), ("per-instance copy", 2.0)):
        async with service(endpoint, public_list_cache_seconds=seconds) as (client, counter):
            await client.get("/service-request")  # warms the connection pool
            burst: list[Call] = [functools.partial(client.get, "/service-request")] * views
            runs[label], statuses = await drive(counter, burst, CONCURRENCY)
            _expect(statuses, 200)
    return runs


Call = Callable[[], Awaitable[httpx.Response]]


def _forms(requests: Requests, count: int) -> list[dict[str, str]]:
    return [
        {
            "license_plate": requests.plate(),
            "phone_number": requests.phone(),
            "service_description": requests.description(),
        }
        for _ in range(count)
    ]


def _posts(
    client: httpx.AsyncClient, path: str, bodies: list[dict[str, str]], headers: dict[str, str] | None = None
) -> list[Call]:
    return [functools.partial(client.post, path, json=body, headers=headers) for body in bodies]


async def public_form(endpoint: str, forms: int) -> dict[str, Run]:
    requests = Requests(seed=7)
    technician = {"Authorization": "Bearer local"}
    runs = {}
    # A limit no run meets: what each create costs, one at a time.
    async with service(endpoint, "198.51.100.1", public_create_limit=10**5) as (client, counter):
        await client.get("/readyz")
        same = _forms(requests, 1)
        cases = {
            "technician, POST /requests": _posts(client, "/requests", _forms(requests, forms), technician),
            "anonymous form": _posts(client, "/service-request", _forms(requests, forms)),
            "the same form again": _posts(client, "/service-request", same * (forms + 1)),
        }
        for label, calls in cases.items():
            if label == "the same form again":
                await calls.pop()()  # the first one stores it
            runs[label], statuses = await drive(counter, calls, 1)
            _expect(statuses, 201)
    return runs


async def flood(endpoint: str) -> tuple[Run, Counter[int], Run]:
    """FLOOD different forms from one address at once with the default limit, then as many again."""
    requests = Requests(seed=11)
    async with service(endpoint, "198.51.100.2") as (client, counter):
        await client.get("/readyz")
        flooding = _posts(client, "/service-request", _forms(requests, FLOOD))
        run, statuses = await drive(counter, flooding, CONCURRENCY)
        _expect(statuses, 201, 429)
        more = _posts(client, "/service-request", _forms(requests, FLOOD))
        refused, again = await drive(counter, more, CONCURRENCY)
        _expect(again, 429)
    return run, statuses, refused


def _print_list(runs: dict[str, Run]) -> None:
    print(f"\nPublic list, {next(iter(runs.values())).count} page views, {CONCURRENCY} at once")
    print(f"{'':22} {'views/s':>9} {'median ms':>10} {'Queries/view':>13}")
    for label, run in runs.items():
        print(f"{label:22} {run.per_second:9.0f} {run.median_ms:10.2f} {run.calls_each('Query'):13.3f}")
    every, copy = runs["read every time"], runs["per-instance copy"]
    print(
        f"copy / read every time: {copy.per_second / every.per_second:.1f}x the views per second, "
        f"{copy.calls['Query'] / every.calls['Query']:.4f}x the Queries"
    )


def _print_form(runs: dict[str, Run]) -> None:
    print(f"\nCreates, one at a time ({next(iter(runs.values())).count} each)")
    print(f"{'':28} {'median ms':>10} {'DynamoDB calls each':>20}  calls")
    for label, run in runs.items():
        each = ", ".join(f"{op} {n / run.count:g}" for op, n in sorted(run.calls.items()))
        print(f"{label:28} {run.median_ms:10.2f} {run.calls_each():20.2f}  {each}")
    technician, anonymous = runs["technician, POST /requests"], runs["anonymous form"]
    print(f"anonymous form / technician create: {anonymous.median_ms / technician.median_ms:.2f}x the time")


def _print_flood(run: Run, statuses: Counter[int], refused: Run) -> None:
    print(f"\nFlood: {run.count} different anonymous forms from one address, {CONCURRENCY} at once")
    print(f"stored {statuses[201]}, refused with 429: {statuses[429]}, in {run.seconds:.2f} s")
    each = ", ".join(f"{op} {n / refused.count:g}" for op, n in sorted(refused.calls.items()))
    print(
        f"{refused.count} more, all refused: median {refused.median_ms:.2f} ms, DynamoDB calls each: {each}"
    )


async def run(views: int, forms: int) -> None:
    with dynalite_server() as endpoint:
        requests = Requests()
        async with table_client(endpoint) as dynamo:
            await load(dynamo, requests.active(50) + requests.inactive(950), concurrency=16)
        print(f"dynalite on {endpoint}: 1,000 requests, 50 active")
        _print_list(await public_list(endpoint, views))
        _print_form(await public_form(endpoint, forms))
        _print_flood(*await flood(endpoint))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--views", type=int, default=2000, help="page views of the public list per run")
    parser.add_argument("--forms", type=int, default=200, help="creates per kind")
    args = parser.parse_args()
    asyncio.run(run(args.views, args.forms))


if __name__ == "__main__":
    main()
