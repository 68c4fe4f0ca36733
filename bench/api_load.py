"""Throughput, latency and CPU per request of the API under load, beside bare aiobotocore making the same
DynamoDB calls, and the service's memory over 20,000 requests. Everything on 127.0.0.1: dynalite, the
service as a real uvicorn process started as `make run` starts it (`python -m service serve`, default
settings: AUTH_MODE=none, request logs on, written to /dev/null) and the load generator, wrk (Debian's
package: `apt-get install wrk`), one thread, a fixed number of keep-alive connections, for a fixed time.
The public list is read every time (PUBLIC_LIST_CACHE_SECONDS=0): its Queries are what is compared. Each
route and concurrency is measured in `--rounds` rounds, the bare client and the service in turn, and the
medians are reported. The memory runs count their requests exactly, so an aiohttp loop in this process
sends them.

    .venv/bin/python -m bench.api_load [--seconds 5] [--rounds 3] [--plot docs/api-load.png]
    .venv/bin/python -m bench.api_load --profile /tmp/service-profile.txt  # the service under pyinstrument
    .venv/bin/python -m bench.api_load --routes get --concurrency 32 --logs-off --rounds 5  # one row, and
        # a second service with request logs off (LOG_LEVEL=WARNING) in the same rounds: what logs cost
    .venv/bin/python -m bench.api_load --routes get --concurrency 32 --before ../before  # an earlier
        # checkout's service too (`git worktree add ../before COMMIT`), in the same rounds

Memory and the plot are measured only with every route and concurrency.

The baseline issues, from this process (on uvloop, as uvicorn runs the service) with the service's own
client settings, exactly the calls the service makes for each route: GetItem (consistent), PutItem
conditional on the key being free, and the six Queries of the public list, concurrently, with its
projection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import uvloop
from ulid import ULID

from bench.common import ROOT
from bench.table import TABLE, Requests, bench_settings, load, table_client
from service.core.models import ACTIVE_STATUSES
from service.storage.backend import open_client
from tests.support.servers import dynalite_server, free_port, stop_process

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

ROUTES = {
    "get": "GET /requests/{plate}/{id}",
    "post": "POST /requests",
    "public": "GET /service-request",
}
CONCURRENCY = (1, 32)
WARMUP_SECONDS = 1.0
SECONDS_PER_RUN = 60.0  # a run stops at its request count or after this long, whichever comes first
WRK_POST = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"license_plate": "7KQX482", "phone_number": "208-555-0147", "service_description": "%s"}'
"""
PUBLIC_FIELDS = sorted({"service_id", "service_status", "phone_number", "license_plate"})

# The service under pyinstrument, sampling where the CPU is (not what coroutines await); the report is
# written when uvicorn stops on SIGINT, which it raises again once it has shut down. Library frames are
# kept: that is where the time goes.
PROFILED_SERVER = """
import contextlib, sys
from pyinstrument import Profiler
from service.cli import main
profiler = Profiler(interval=0.001, async_mode="disabled")
profiler.start()
with contextlib.suppress(KeyboardInterrupt):
    main(["serve"])
profiler.stop()
with open(sys.argv[1], "w") as out:
    out.write(profiler.output_text(flat=True))
    out.write(profiler.output_text())
"""

Call = Callable[[], Awaitable[None]]


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_seconds: float = 0.0  # CPU time of the process answering (the service, or the bare client's)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        """CPU time per request, in microseconds."""
        return self.cpu_seconds / self.requests * 1e6


async def drive(call: Call, total: int, concurrency: int, seconds: float = SECONDS_PER_RUN) -> Result:
    """Up to `total` calls in up to `seconds`, from `concurrency` workers each awaiting its answer first."""
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    issued = 0

    async def worker() -> None:
        nonlocal issued
        while issued < total and time.perf_counter() < deadline:
            issued += 1
            t0 = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t0)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Result(len(latencies), elapsed, statistics.median(latencies) * 1000, cuts[98] * 1000)


def _body(requests: Requests) -> dict[str, str]:
    return {
        "license_plate": requests.plate(),
        "phone_number": requests.phone(),
        "service_description": requests.description(),
    }


def service_calls(session: aiohttp.ClientSession, base: str, known: tuple[str, str]) -> dict[str, Call]:
    requests = Requests(seed=1)

    async def call(method: str, url: str, expected: int, body: dict[str, str] | None = None) -> None:
        async with session.request(method, url, json=body) as response:
            await response.read()
            if response.status != expected:
                raise SystemExit(f"{method} {url} answered {response.status}, not {expected}")

    return {
        "get": lambda: call("GET", f"{base}/requests/{known[0]}/{known[1]}", 200),
        "post": lambda: call("POST", f"{base}/requests", 201, _body(requests)),
        "public": lambda: call("GET", f"{base}/service-request", 200),
    }


def bare_calls(client: DynamoDBClient, known: tuple[str, str]) -> dict[str, Call]:
    requests = Requests(seed=2)

    async def get() -> None:
        key = {"license_plate": {"S": known[0]}, "service_id": {"S": known[1]}}
        response = await client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
        assert "Item" in response

    async def post() -> None:
        body = _body(requests)
        await client.put_item(
            TableName=TABLE,
            Item={
                "license_plate": {"S": body["license_plate"]},
                "service_id": {"S": str(ULID())},
                "phone_number": {"S": body["phone_number"]},
                "service_description": {"S": body["service_description"]},
                "service_status": {"S": "New Request"},
                "created_at": {"S": "2026-11-26T16:00:00.000Z"},
                "updated_at": {"S": "2026-11-26T16:00:00.000Z"},
                "version": {"N": "1"},
            },
            ConditionExpression="attribute_not_exists(license_plate)",
        )

    async def query(status: str) -> None:
        start: Any = None
        while True:
            page = await client.query(
                TableName=TABLE,
                IndexName="StatusIndex",
                KeyConditionExpression="service_status = :status",
                ExpressionAttributeValues={":status": {"S": status}},
                ProjectionExpression=", ".join(f"#p{i}" for i in range(len(PUBLIC_FIELDS))),
                ExpressionAttributeNames={f"#p{i}": name for i, name in enumerate(PUBLIC_FIELDS)},
                **({"ExclusiveStartKey": start} if start else {}),
            )
            start = page.get("LastEvaluatedKey")
            if start is None:
                return

    async def public() -> None:
        async with asyncio.TaskGroup() as group:
            for status in ACTIVE_STATUSES:
                group.create_task(query(status.value))

    return {"get": get, "post": post, "public": public}


def service_env(endpoint: str, port: int, log_level: str = "INFO") -> dict[str, str]:
    """The environment of `python -m service serve` on `port`: default settings but for the benchmark's
    table, no token checks (as `make run`) and the public list read every time."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_REGION": "us-east-1",
        "TABLE_NAME": TABLE,
        "AUTH_MODE": "none",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "CURSOR_SECRET": "benchmark-cursor-secret",
        # The public list's Queries are what is measured here, beside bare aiobotocore's.
        "PUBLIC_LIST_CACHE_SECONDS": "0",
        "LOG_LEVEL": log_level,  # the default, INFO, logs every request
    }


class Server:
    """`python -m service serve` on a free port, optionally under pyinstrument."""

    def __init__(
        self, endpoint: str, profile: Path | None = None, *, log_level: str = "INFO", root: Path = ROOT
    ) -> None:
        self.port = free_port()
        self.profile = profile
        env = service_env(endpoint, self.port, log_level)
        command = [sys.executable, "-m", "service", "serve"]
        if profile is not None:
            command = [sys.executable, "-c", PROFILED_SERVER, str(profile)]
        # Request logs are on, as by default; they are written where they cost what they cost, unread.
        # `-m service` from `root`: the service of that checkout.
        self.process = subprocess.Popen(command, cwd=root, env=env, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"

    async def ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise SystemExit(f"the service exited with {self.process.returncode}")
                try:
                    async with session.get(f"{self.base}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise SystemExit("the service did not become ready")

    def cpu_seconds(self) -> float:
        """The server's user and system CPU time so far (from /proc/PID/stat)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise SystemExit("no VmRSS")

    def stop(self) -> None:
        if self.profile is not None and self.process.poll() is None:
            # uvicorn shuts down cleanly on SIGINT, and pyinstrument then writes its report.
            self.process.send_signal(signal.SIGINT)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=120)
        stop_process(self.process)


async def prepare(endpoint: str) -> tuple[str, str]:
    """1,000 requests, 50 of them active; the key of one active request, read in the GET runs."""
    requests = Requests()
    async with table_client(endpoint) as dynamo:
        active = requests.active(50)
        await load(dynamo, active + requests.inactive(950), concurrency=16)
    return active[0]["license_plate"]["S"], active[0]["service_id"]["S"]


async def _bare_run(call: Call, concurrency: int, seconds: float) -> Result:
    await drive(call, 10**6, concurrency, seconds=WARMUP_SECONDS)
    cpu = time.process_time()
    result = await drive(call, 10**6, concurrency, seconds=seconds)
    result.cpu_seconds = time.process_time() - cpu
    return result


def _wrk(url: str, concurrency: int, seconds: float, script: Path | None) -> Result:
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    if script is not None:
        command += ["-s", str(script)]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60, check=True)
    out = done.stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if match is None:
            raise SystemExit(f"no {percent}% latency in wrk's output:\n{out}")
        return float(match.group(1)) * units[match.group(2)]

    match = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s)", out)
    if match is None:
        raise SystemExit(f"no request count in wrk's output:\n{out}")
    return Result(
        int(match.group(1)),
        float(match.group(2)) * units[match.group(3)] / 1000,
        latency("50"),
        latency("99"),
    )


async def _service_run(
    server: Server, url: str, script: Path | None, concurrency: int, seconds: float
) -> Result:
    await asyncio.to_thread(_wrk, url, concurrency, WARMUP_SECONDS, script)
    cpu = server.cpu_seconds()
    result = await asyncio.to_thread(_wrk, url, concurrency, seconds, script)
    result.cpu_seconds = server.cpu_seconds() - cpu
    return result


def _median(results: list[Result]) -> Result:
    """The median of each figure over the rounds."""
    return Result(
        requests=round(statistics.median(r.requests for r in results)),
        seconds=statistics.median(r.seconds for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        cpu_seconds=statistics.median(r.cpu_us for r in results)
        * statistics.median(r.requests for r in results)
        / 1e6,
    )


Rows = dict[tuple[str, int], Result]
# The services measured beside the bare client: request logs on (the default), and off.
LOGS_ON, LOGS_OFF = "service", "logs off"
# And an earlier checkout's (--before).
BEFORE, BEFORE_LOGS_OFF = "before", "before, logs off"


async def _interleaved(
    endpoint: str,
    known: tuple[str, str],
    args: argparse.Namespace,
    work: Path,
    profile: Path | None = None,
) -> tuple[dict[str, Rows], Rows]:
    """Each route and concurrency, `args.rounds` times, the bare client and each service in turn; the
    medians, by service (request logs on; off too with `args.logs_off`) and of the bare client."""
    post = work / "post.lua"
    post.write_text(WRK_POST % Requests().description(), encoding="utf-8")
    servers = {LOGS_ON: Server(endpoint, profile)}
    if args.logs_off and profile is None:
        servers[LOGS_OFF] = Server(endpoint, log_level="WARNING")
    if args.before is not None and profile is None:
        servers[BEFORE] = Server(endpoint, root=args.before.resolve())
        if args.logs_off:
            servers[BEFORE_LOGS_OFF] = Server(endpoint, log_level="WARNING", root=args.before.resolve())
    service: dict[str, dict[tuple[str, int], list[Result]]] = {name: {} for name in servers}
    bare: dict[tuple[str, int], list[Result]] = {}
    rounds = 1 if profile is not None else args.rounds
    try:
        for server in servers.values():
            await server.ready()
        async with AsyncExitStack() as stack:
            calls = bare_calls(await open_client(bench_settings(endpoint), stack), known)
            for round_ in range(1, rounds + 1):
                for route in args.routes:
                    for concurrency in args.concurrency:
                        key = route, concurrency
                        figures = []
                        if profile is None:
                            bare.setdefault(key, []).append(
                                await _bare_run(calls[route], concurrency, args.seconds)
                            )
                            figures.append(f"bare {bare[key][-1].rps:.0f}/s")
                        for name, server in servers.items():
                            url = {
                                "get": (f"{server.base}/requests/{known[0]}/{known[1]}", None),
                                "post": (f"{server.base}/requests", post),
                                "public": (f"{server.base}/service-request", None),
                            }[route]
                            run = await _service_run(server, *url, concurrency, args.seconds)
                            service[name].setdefault(key, []).append(run)
                            figures.append(f"{name} {run.rps:.0f}/s {run.cpu_us:.0f}us")
                            if profile is None:
                                b = bare[key][-1]
                                figures[-1] += f" ({run.rps / b.rps:.2f}x, CPU {run.cpu_us / b.cpu_us:.2f}x)"
                        print(f"  round {round_}, {ROUTES[route]}, {concurrency}: {', '.join(figures)}")
    finally:
        for server in servers.values():
            server.stop()
    if profile is None and rounds > 1:
        print("the rounds' own ratios to the bare client (median): throughput, CPU/request")
        for name, rows in service.items():
            for key, runs in rows.items():
                pairs = list(zip(runs, bare[key], strict=True))
                rps = statistics.median(s.rps / b.rps for s, b in pairs)
                cpu = statistics.median(s.cpu_us / b.cpu_us for s, b in pairs)
                print(f"  {name:10}{ROUTES[key[0]]:28}{key[1]:>5}{rps:>9.0%}{cpu:>8.2f}x")
    return (
        {name: {key: _median(runs) for key, runs in rows.items()} for name, rows in service.items()},
        {key: _median(runs) for key, runs in bare.items()},
    )


async def _memory(endpoint: str, known: tuple[str, str], checkpoints: list[int]) -> list[tuple[int, float]]:
    """The service's RSS after each checkpoint of mixed requests (GET, POST, public list in turn), 32 at
    once."""
    server = Server(endpoint)
    try:
        await server.ready()
        rss = [(0, server.rss_mib())]
        connector = aiohttp.TCPConnector(limit=32)
        async with aiohttp.ClientSession(connector=connector) as session:
            calls = list(service_calls(session, server.base, known).values())
            turn = 0

            async def mixed() -> None:
                nonlocal turn
                turn += 1
                await calls[turn % len(calls)]()

            done = 0
            for checkpoint in checkpoints:
                done += (await drive(mixed, checkpoint - done, 32)).requests
                rss.append((done, server.rss_mib()))
        return rss
    finally:
        server.stop()


def _print(services: dict[str, Rows], bare: Rows) -> None:
    print(
        f"\n{'':28}{'conc':>5}{'req/s':>9}{'p50':>9}{'p99':>9}   {'bare req/s':>10}{'p50':>9}{'p99':>9}"
        f"   {'throughput':>10}{'p50 added':>10}   {'CPU/request':>11}{'bare':>8}"
    )
    for name, service in services.items():
        if len(services) > 1:
            print(name)
        for route, concurrency in service:
            s, b = service[route, concurrency], bare[route, concurrency]
            print(
                f"{ROUTES[route]:28}{concurrency:>5}{s.rps:>9.0f}{s.p50_ms:>7.2f}ms{s.p99_ms:>7.2f}ms"
                f"   {b.rps:>10.0f}{b.p50_ms:>7.2f}ms{b.p99_ms:>7.2f}ms"
                f"   {s.rps / b.rps:>10.0%}{s.p50_ms - b.p50_ms:>8.2f}ms"
                f"   {s.cpu_us:>9.0f}us{b.cpu_us:>6.0f}us{s.cpu_us / b.cpu_us:>6.2f}x"
            )
    print("throughput: the service's requests/s as a share of the bare client's (target: at least 80%)")
    print(
        "p50 added: the service's median latency minus the bare client's (target at 1 connection: < 0.5 ms)"
    )
    print("CPU/request: CPU time of the service's process per request; bare: of the bare client's process")
    print("  (target: at most 1.3x the bare client's)")
    for on_name, off_name in ((LOGS_ON, LOGS_OFF), (BEFORE, BEFORE_LOGS_OFF)):
        if off_name not in services:
            continue
        print(f"request logs' cost ({on_name}): 1 - (req/s with logs) / (req/s without), CPU/request added")
        for key, off in services[off_name].items():
            on = services[on_name][key]
            cost, added = 1 - on.rps / off.rps, on.cpu_us - off.cpu_us
            print(f"  {ROUTES[key[0]]:26}{key[1]:>5}{cost:>9.1%}{added:>+9.0f}us")


def _plot(
    path: Path,
    service: dict[tuple[str, int], Result],
    bare: dict[tuple[str, int], Result],
    rss: list[tuple[int, float]],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rps_ax, rss_ax) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=100, width_ratios=[3, 2])
    labels = [f"{ROUTES[r].split(' ', 1)[0]} {r}\nconc {c}" for r in ROUTES for c in CONCURRENCY]
    xs = range(len(labels))
    rps_ax.bar(
        [x - 0.2 for x in xs],
        [service[r, c].rps for r in ROUTES for c in CONCURRENCY],
        0.4,
        label="service (uvicorn)",
    )
    rps_ax.bar(
        [x + 0.2 for x in xs],
        [bare[r, c].rps for r in ROUTES for c in CONCURRENCY],
        0.4,
        label="bare aiobotocore",
    )
    rps_ax.set_xticks(list(xs), labels, fontsize=7)
    rps_ax.set(ylabel="requests/s")
    rps_ax.set_title("Throughput against dynalite (2 cores shared)", fontsize=10)
    rps_ax.legend(fontsize=7)
    rss_ax.plot([n for n, _ in rss], [m for _, m in rss], marker="o")
    rss_ax.set(xlabel="requests served", ylabel="VmRSS (MiB)", ylim=(0, max(m for _, m in rss) * 1.2))
    rss_ax.set_title("The service's memory", fontsize=10)
    for ax in (rps_ax, rss_ax):
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    print(f"\nplot: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def _load_averages() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


async def _run(args: argparse.Namespace, endpoint: str) -> None:
    known = await prepare(endpoint)
    print(f"load average (1, 5, 15 minutes) at the start: {' '.join(_load_averages())}")
    print(
        f"API under load: dynalite on {endpoint}, 1,000 requests in the table (50 active); each run "
        f"{args.seconds:g} s after {WARMUP_SECONDS:g} s unmeasured, closed loop, medians of {args.rounds} "
        "interleaved rounds; all on the same 2 cores"
    )
    with tempfile.TemporaryDirectory() as work:
        if args.profile is not None:
            await _interleaved(endpoint, known, args, Path(work), profile=args.profile.resolve())
            print(f"profile: {args.profile}")
            return
        services, bare = await _interleaved(endpoint, known, args, Path(work))
    _print(services, bare)
    print(f"load average (1, 5, 15 minutes) at the end: {' '.join(_load_averages())}")
    if set(args.routes) != set(ROUTES) or set(args.concurrency) != set(CONCURRENCY):
        return
    service = services[LOGS_ON]
    rss = await _memory(endpoint, known, [2_000, 5_000, 10_000, 15_000, 20_000])
    print("\nThe service's memory (VmRSS) after mixed requests (GET, POST, public list in turn), 32 at once")
    for done, mib in rss:
        print(f"{done:>8,} requests {mib:>8.1f} MiB")
    after_2k = dict(rss)[2_000]
    print(f"after 20,000 against after 2,000: {rss[-1][1] / after_2k - 1:+.1%} (target: within 10%)")
    _plot(args.plot, service, bare, rss)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measured seconds per route and concurrency"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "api-load.png")
    parser.add_argument("--profile", type=Path, help="run the service under pyinstrument; its text report")
    parser.add_argument(
        "--routes", nargs="+", choices=list(ROUTES), default=list(ROUTES), help="the routes measured"
    )
    parser.add_argument(
        "--concurrency", nargs="+", type=int, default=list(CONCURRENCY), help="connections (wrk) and workers"
    )
    parser.add_argument(
        "--before", type=Path, help="an earlier checkout whose service is measured too, in the same rounds"
    )
    parser.add_argument(
        "--logs-off",
        action="store_true",
        help="measure a second service with request logs off (LOG_LEVEL=WARNING) in the same rounds",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    with dynalite_server() as endpoint:
        uvloop.run(_run(args, endpoint))


if __name__ == "__main__":
    main()
