"""The active list against the table's size: what DynamoDB reads, what comes back and how long it takes,
for the service (`GET /requests/active` and the public `GET /service-request`), the lab's own Node.js
`getServiceRequest` code (one Scan) and a correct, fully paginated Scan with the lab's filter, on one table
grown from 1,000 to 10,000 to 100,000 requests of which 50 stay active, in dynalite on 127.0.0.1.

    .venv/bin/python -m bench.active_list [--sizes 1000 10000 100000] [--runs 7] [--plot docs/active-list.png]
                                          [--lab-text PATH]

The service runs in process (httpx's ASGITransport, the app's lifespan running) with AUTH_MODE=none, so
every caller is a technician. Its Queries are counted by botocore event hooks that this script registers on
the service's own DynamoDB client (`Backend.client()`): one asks DynamoDB for ReturnConsumedCapacity=TOTAL,
the other sums `Count`, `ScannedCount` and `ConsumedCapacity` of each answer.
The service's code is unchanged. The lab's code runs in Node.js (bench/node/active_runner.mjs).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from asgi_lifespan import LifespanManager

from bench.common import NODE_DIR, ROOT, add_lab_text_argument, lab_dynamo_service, local_aws_env
from bench.table import TABLE, Requests, bench_settings, item_size, load, table_client
from service.http.app import create_app
from tests.support.servers import dynalite_server

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

ACTIVE = 50


@dataclass
class Reads:
    """What DynamoDB reported reading for one listing."""

    calls: int = 0
    scanned: int = 0
    capacity: float = 0.0


@dataclass
class Figures:
    returned: int
    reads: Reads
    seconds: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000


class QueryCounter:
    """botocore hooks on the service's DynamoDB clients: capacity asked for, every Query's answer summed."""

    def __init__(self) -> None:
        self.reads = Reads()

    def hook(self, client: DynamoDBClient) -> None:
        """Count the Queries of `client` (the service's own, from its Backend) and ask for their capacity."""
        client.meta.events.register("before-parameter-build.dynamodb.Query", self._ask_capacity)
        client.meta.events.register("after-call.dynamodb.Query", self._count)

    def _ask_capacity(self, params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"

    def _count(self, parsed: dict[str, Any], **_: Any) -> None:
        self.reads.calls += 1
        self.reads.scanned += parsed.get("ScannedCount", parsed.get("Count", 0))
        self.reads.capacity += parsed.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0)


async def _service(client: httpx.AsyncClient, counter: QueryCounter, path: str, runs: int) -> Figures:
    figures: Figures | None = None
    for run in range(runs + 1):  # the first call warms the connection pool: not counted
        counter.reads = Reads()
        started = time.perf_counter()
        returned, cursor = 0, None
        while True:
            response = await client.get(path, params={"cursor": cursor} if cursor else None)
            response.raise_for_status()
            body = response.json()
            if isinstance(body, list):  # the public list: every item at once
                returned += len(body)
                break
            returned += len(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        elapsed = time.perf_counter() - started
        if run == 0:
            if counter.reads.calls == 0:
                raise SystemExit("no Query of the service was counted")
            figures = Figures(returned, counter.reads)
        else:
            assert figures is not None
            figures.seconds.append(elapsed)
    assert figures is not None
    return figures


async def _full_scan(dynamo: DynamoDBClient, runs: int) -> Figures:
    """The lab's Scan done right: every page, with the lab's filter, capacity reported."""
    figures: Figures | None = None
    for run in range(runs + 1):
        reads, returned, start = Reads(), 0, None
        request: dict[str, Any] = {
            "TableName": TABLE,
            "FilterExpression": "attribute_not_exists(service_status) OR "
            "(#service_status <> :status AND #service_status <> :statusNew)",
            "ExpressionAttributeNames": {"#service_status": "service_status"},
            "ExpressionAttributeValues": {":status": {"S": "Completed"}, ":statusNew": {"S": "New Request"}},
            "ReturnConsumedCapacity": "TOTAL",
        }
        started = time.perf_counter()
        while True:
            if start is not None:
                request["ExclusiveStartKey"] = start
            page = await dynamo.scan(**request)
            reads.calls += 1
            reads.scanned += page["ScannedCount"]
            reads.capacity += page.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0)
            returned += page["Count"]
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        elapsed = time.perf_counter() - started
        if run == 0:
            figures = Figures(returned, reads)
        else:
            assert figures is not None
            figures.seconds.append(elapsed)
    assert figures is not None
    return figures


def _lab(lab: Path, endpoint: str, runs: int) -> Figures:
    done = subprocess.run(
        ["node", "active_runner.mjs", str(lab), str(runs)],
        cwd=NODE_DIR,
        env=local_aws_env(endpoint),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the lab's code failed:\n{done.stderr}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    note = "one page only: more were left unread" if out["more"] else ""
    return Figures(
        out["returned"], Reads(out["calls"], out["scanned"], out["capacity"]), out["samples"], note
    )


ROWS = (
    ("service", "service GET /requests/active"),
    ("public", "service GET /service-request"),
    ("lab", "lab getServiceRequest (Node)"),
    ("scan", "full Scan, all pages (Python)"),
)


def _print_size(size: int, results: dict[str, Figures], runs: int) -> None:
    print(f"\n{size:,} requests in the table, {ACTIVE} active (median of {runs} runs)")
    print(f"{'':32}{'DynamoDB calls':>15}{'items read':>12}{'capacity':>10}{'returned':>10}{'wall':>11}")
    for key, label in ROWS:
        f = results[key]
        print(
            f"{label:32}{f.reads.calls:>15}{f.reads.scanned:>12,}{f.reads.capacity:>10.1f}"
            f"{f.returned:>10}{f.median_ms:>9.1f}ms  {f.note}"
        )


def _summary(sizes: list[int], all_results: dict[int, dict[str, Figures]]) -> None:
    print("\nAgainst the targets")
    print(
        f"{'table size':>12}{'read/active':>13}{'returned':>10}{'wall':>10}{'wall vs first':>15}"
        f"{'scan/service reads':>20}{'lab returned':>14}"
    )
    first = all_results[sizes[0]]["service"].median_ms
    for size in sizes:
        r = all_results[size]
        s = r["service"]
        print(
            f"{size:>12,}{s.reads.scanned / ACTIVE:>12.2f}x{s.returned:>10}{s.median_ms:>8.1f}ms"
            f"{s.median_ms / first:>14.2f}x{r['scan'].reads.scanned / s.reads.scanned:>19.0f}x"
            f"{r['lab'].returned:>14}"
        )


def _plot(path: Path, sizes: list[int], all_results: dict[int, dict[str, Figures]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (reads_ax, time_ax) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=100)
    for key, label in ROWS:
        reads_ax.plot(sizes, [all_results[s][key].reads.scanned for s in sizes], marker="o", label=label)
        time_ax.plot(sizes, [all_results[s][key].median_ms for s in sizes], marker="o", label=label)
    reads_ax.set(xscale="log", yscale="log", xlabel="requests in the table", ylabel="items read by DynamoDB")
    time_ax.set(xscale="log", yscale="log", xlabel="requests in the table", ylabel="wall time, median (ms)")
    reads_ax.set_title(f"Items read to list {ACTIVE} active", fontsize=10)
    time_ax.set_title("Time to list them (dynalite, 127.0.0.1)", fontsize=10)
    for ax in (reads_ax, time_ax):
        ax.grid(True, which="major", alpha=0.3)
    time_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    print(f"\nplot: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


async def _run(
    lab: Path, endpoint: str, counter: QueryCounter, sizes: list[int], runs: int
) -> dict[int, dict[str, Figures]]:
    requests = Requests()
    app = create_app(bench_settings(endpoint))
    all_results: dict[int, dict[str, Figures]] = {}
    async with (
        table_client(endpoint) as dynamo,
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://bench") as client,
    ):
        counter.hook(await app.state.backend.client())
        loaded: list[int] = []
        print(f"Active list against table size: dynalite on {endpoint}, service with AUTH_MODE=none")
        for size in sizes:
            items = requests.active(ACTIVE) if not loaded else []
            items += requests.inactive(size - sum(loaded) - len(items))
            seconds = await load(dynamo, items, concurrency=16)
            loaded.append(len(items))
            mean = statistics.mean(item_size(i) for i in items)
            print(f"loaded {len(items):,} requests ({mean:.0f} bytes each on average) in {seconds:.1f} s")
            # The service shares this process: the loaded items' garbage is not to be collected on its time.
            del items
            gc.collect()
            all_results[size] = {
                "service": await _service(client, counter, "/requests/active", runs),
                "public": await _service(client, counter, "/service-request", runs),
                "lab": await asyncio.to_thread(_lab, lab, endpoint, runs),
                "scan": await _full_scan(dynamo, runs),
            }
            _print_size(size, all_results[size], runs)
    return all_results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "active-list.png")
    add_lab_text_argument(parser)
    args = parser.parse_args()
    lab = lab_dynamo_service(args.lab_text)
    counter = QueryCounter()
    with dynalite_server() as endpoint:
        all_results = asyncio.run(_run(lab, endpoint, counter, sorted(args.sizes), args.runs))
    _summary(sorted(args.sizes), all_results)
    _plot(args.plot, sorted(args.sizes), all_results)


if __name__ == "__main__":
    main()
