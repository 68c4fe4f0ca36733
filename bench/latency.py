"""The Lambda's calls under network latency: every DynamoDB message held a fixed time each way, the service's
handler and the course's own Node.js functions side by side, warm, in one run.

    make bench-latency
    .venv/bin/python -m bench.latency [--delay-ms 2] [--slow-delay-ms 25] [--runs 200] [--batch 8]
        [--rows 200] [--lab-text PATH] [--form-text PATH] [--admin-text PATH] [--history-text PATH]
        [--plot PATH] [--no-docs]

dynalite runs on 127.0.0.1 behind the delaying proxy (bench/latency_proxy.py, its own process), which both
runtimes reach through AWS_ENDPOINT_URL_DYNAMODB: the service's handler, imported as Lambda imports it, in
one long-lived Python process (bench/latency_lambda.py), and the course's functions, extracted from the
course's lab texts into build/ (bench/latency_course.py), in one long-lived Node.js process
(bench/node/latency_runner.mjs). Each call runs in batches of `--batch` invocations after one unmeasured
invocation; the batches of all calls take turns, their order turning from round to round, until each call
has `--runs`. Before every batch the benchmark puts the table back as it was (directly, not through the
proxy): the lab's two rows as seeded, the requests the writes made deleted, and for DELETE the requests it
removes stored. The status-changing calls then run again with `--slow-delay-ms` each way.

It prints each call's p50 and p99, the DynamoDB calls it made, its sequential round trips and the write units
it used (from the proxy's record of every exchange, see bench/latency_report.py), its ratio to the course's
function and each target met or missed; and writes the same into docs/performance.md (its section "Under
network latency") with the plot (docs/latency.png), unless `--no-docs`: then the plot goes to
build/latency.png, so that the docs' table and plot stay of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aioboto3

from bench.common import NODE_DIR, ROOT, add_lab_text_argument, local_aws_env
from bench.latency_calls import (
    DELETE_PLATE,
    LAB_ID,
    LAB_PLATE,
    OTHER_LAB_ID,
    OTHER_LAB_PLATE,
    SLOW_CALLS,
    WRITE_PLATES,
    Call,
    course_calls,
    delete_id,
    service_calls,
)
from bench.latency_course import DEFAULT_TEXTS, extract
from bench.latency_lambda import SERVICE_CLI
from bench.latency_processes import DYNALITE, Child, Proxy, child, dynalite, node_runner_command, proxy
from bench.latency_report import (
    BEGIN,
    Figures,
    Invocation,
    attribute,
    plot,
    sequences,
    table,
    targets,
    write_section,
)
from bench.table import REGION, TABLE, Requests, load

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

    Item = dict[str, AttributeValueTypeDef]


def _service_env(endpoint: str) -> dict[str, str]:
    """The function's settings, as its environment gives them: API Gateway's Cognito authorizer in front,
    request logs on (JSON, to stderr as on Lambda), and otherwise the defaults but two. The public list is
    read every time (by default a list read within 2 s is served from the instance's copy, with no
    DynamoDB call at all), and one address may send a form as often as the benchmark does."""
    return {
        **local_aws_env(endpoint),
        "PYTHONPATH": str(ROOT),
        "AUTH_MODE": "gateway",
        "PUBLIC_LIST_CACHE_SECONDS": "0",
        "PUBLIC_CREATE_LIMIT": "100000",
    }


async def _init_table(endpoint: str) -> None:
    """The tables and the lab's rows, as `make init-table` and `make seed` make them."""
    command = [sys.executable, *SERVICE_CLI, "init-table", "--seed"]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env=_service_env(endpoint),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed:\n{errors.decode()}")


@asynccontextmanager
async def _direct_client(endpoint: str) -> AsyncIterator[DynamoDBClient]:
    """A client of dynalite itself, not through the proxy: what it does is not measured."""
    env = local_aws_env(endpoint)
    session = aioboto3.Session(
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    async with session.client("dynamodb", endpoint_url=endpoint) as client:
        yield client


def _key(plate: str, service_id: str) -> Item:
    return {"license_plate": {"S": plate}, "service_id": {"S": service_id}}


def _active(rows: int) -> int:
    return max(1, rows // 10)


async def _load(client: DynamoDBClient, rows: int) -> list[Item]:
    """`rows` realistic requests beside the lab's two, a tenth of them active, and three earlier, completed
    visits of the lab's 1J1957; the lab's two rows as stored, to put back before every batch."""
    requests = Requests()
    active = _active(rows)
    items = requests.active(active) + requests.inactive(rows - active)
    earlier = [dict(item) for item in requests.inactive(30) if item["service_status"]["S"] == "Completed"]
    for item in earlier[:3]:
        item["license_plate"] = {"S": LAB_PLATE}
    await load(client, [*items, *earlier[:3]], concurrency=4)
    lab_rows = []
    for plate, service_id in ((LAB_PLATE, LAB_ID), (OTHER_LAB_PLATE, OTHER_LAB_ID)):
        stored = await client.get_item(TableName=TABLE, Key=_key(plate, service_id), ConsistentRead=True)
        lab_rows.append(stored["Item"])
    return lab_rows


@dataclass
class Phase:
    """One delay's figures, and how the proxy kept to it."""

    delay_ms: float
    results: dict[str, Figures]
    late_us: list[float]
    stray: int


class Bench:
    def __init__(self, client: DynamoDBClient, lab_rows: list[Item], service: Child, node: Child) -> None:
        self._client = client
        self._lab_rows = lab_rows
        self._service = service
        self._node = node
        self._next = 0  # every invocation's number, across the run: each form, request and key is new
        self.loads: list[float] = []  # the machine's load average (1 minute) before each batch

    async def _prepare(self, call: Call, numbers: range) -> None:
        """The table as the batch expects it: the lab's rows as seeded, nothing under the write plates but
        the requests a DELETE batch removes."""
        doomed: list[Item] = []
        for plate in WRITE_PLATES:
            found = await self._client.query(
                TableName=TABLE,
                KeyConditionExpression="license_plate = :plate",
                ExpressionAttributeValues={":plate": {"S": plate}},
                ProjectionExpression="license_plate, service_id",
                ConsistentRead=True,
            )
            doomed += found["Items"]
        for start in range(0, len(doomed), 25):
            await self._client.batch_write_item(
                RequestItems={TABLE: [{"DeleteRequest": {"Key": key}} for key in doomed[start : start + 25]]}
            )
        stored: list[Item] = list(self._lab_rows)
        if call.delete_targets:
            stored += [
                {
                    **_key(DELETE_PLATE, delete_id(n)),
                    "phone_number": {"S": "208-555-0100"},
                    "service_description": {"S": "Wiper blades; the customer cancelled by phone"},
                    "service_status": {"S": "New Request"},
                    "version": {"N": "1"},
                }
                for n in numbers
            ]
        for item in stored:
            await self._client.put_item(TableName=TABLE, Item=item)

    async def _invoke(self, call: Call, numbers: range) -> list[list[Any]]:
        invocations = [call.invocation(n) for n in numbers]
        if call.side == "service":
            answer = await self._service.ask(json.dumps(invocations))
        else:
            batch = {"module": call.module, "export": call.export, "invocations": invocations}
            answer = await self._node.ask(json.dumps(batch))
        samples: list[list[Any]] = answer["samples"]
        for _, _, status, body in samples:
            if status != call.expect or (call.answer is not None and call.answer not in body):
                raise SystemExit(f"{call.side} {call.label} answered {status}: {body}")
        return samples

    async def phase(self, proxy: Proxy, calls: list[Call], delay_ms: float, runs: int, batch: int) -> Phase:
        await proxy.delay(delay_ms)
        await proxy.exchanges()  # from here on
        results = {call.key: Figures(call, delay_ms) for call in calls}
        remaining = dict.fromkeys(results, runs)
        for round_number in range(math.ceil(runs / batch)):
            # The order turns from round to round: no call always runs right after the same other one.
            turn = round_number % len(calls)
            for call in calls[turn:] + calls[:turn]:
                count = min(batch, remaining[call.key])
                remaining[call.key] -= count
                # Even first: the writes alternate two statuses by number, the first a change from the seed.
                self._next += self._next % 2
                numbers = range(self._next, self._next + count + 1)  # the first one unmeasured
                self._next += count + 1
                await self._prepare(call, numbers)
                self.loads.append(os.getloadavg()[0])
                for index, (started, ended, _, _) in enumerate(await self._invoke(call, numbers)):
                    results[call.key].invocations.append(Invocation(started, ended, measured=index > 0))
        exchanges = await proxy.exchanges()
        invocations = [i for figures in results.values() for i in figures.invocations]
        stray = attribute(invocations, exchanges)
        late = [late for exchange in exchanges for late in exchange["late_us"]]
        return Phase(delay_ms, results, late, stray)


async def _run(args: argparse.Namespace, calls: list[Call]) -> tuple[list[Phase], list[float]]:
    phases = []
    async with dynalite() as endpoint:
        await _init_table(endpoint)
        async with _direct_client(endpoint) as client:
            lab_rows = await _load(client, args.rows)
            async with proxy(endpoint, args.delay_ms, local_aws_env(endpoint)) as delayed:
                service_command = [sys.executable, "-m", "bench.latency_lambda"]
                service_env = _service_env(delayed.url)
                node_env = local_aws_env(delayed.url)
                async with (
                    child("service", service_command, env=service_env, cwd=ROOT) as (service, _),
                    child("node", node_runner_command(), env=node_env, cwd=NODE_DIR) as (node, _),
                ):
                    bench = Bench(client, lab_rows, service, node)
                    phases.append(await bench.phase(delayed, calls, args.delay_ms, args.runs, args.batch))
                    if args.slow_delay_ms > 0:
                        slow = [call for call in calls if call.key in SLOW_CALLS]
                        phases.append(
                            await bench.phase(delayed, slow, args.slow_delay_ms, args.slow_runs, args.batch)
                        )
    return phases, bench.loads


def _version(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def _machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    dynalite = json.loads((DYNALITE.parent.parent / "dynalite" / "package.json").read_text())["version"]
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, Node.js {_version(['node', '--version'])}, dynalite {dynalite}"
    )


def _phase_heading(phase: Phase, runs: int, batch: int) -> str:
    late = statistics.median(phase.late_us) / 1000 if phase.late_us else 0.0
    worst = sorted(phase.late_us)[int(0.99 * len(phase.late_us))] / 1000 if phase.late_us else 0.0
    return (
        f"{phase.delay_ms:g} ms each way on every DynamoDB message: {runs} warm invocations of each call, in "
        f"batches of {batch} after one unmeasured\n"
        f"(messages left the proxy {late:.2f} ms after they were due, median; {worst:.2f} ms, p99)"
    )


DOC_INTRO = """\
## 6. Under network latency

`make bench-latency` (`bench/latency.py`) puts a fixed delay on every DynamoDB message, each way, and runs
the Lambda's calls warm, side by side with the course's own Node.js functions for the same calls, in one run
against one dynalite on 127.0.0.1. On AWS a function waits a few milliseconds for every DynamoDB call
(about 2 ms each way within a region): what the shop's customers and technicians wait for is then mostly the
number of round trips made one after another, which dynalite on the same machine hides. The status update
and the histories with a plate typed in lower case run again with 25 ms each way, beside the course's, where
each round trip more stands out. `make bench-latency` takes the lab texts from `../shared/seeds` (`LAB_TEXT`,
`COURSE_DIR`) and more options from `LATENCY_ARGS` (`--delay-ms`, `--slow-delay-ms`, `--runs`, `--no-docs`).

- **The delay**: a TCP proxy on 127.0.0.1 in front of dynalite (`bench/latency_proxy.py`, a process of its
  own) holds each HTTP message for the delay after its last byte arrived, in each direction, keeping each
  connection's order; a new connection's first request waits two delays more, for the TCP handshake. A
  proxy rather than `tc netem` on a network namespace: it needs neither root nor a namespace, so it runs
  where `make bench` runs, and it has to read every exchange anyway to count them. What it costs is
  precision: the proxy sends a message a little after it is due (its event loop waits in `select()`, with
  microsecond timeouts; the run reports the lateness), where netem's kernel timers are exact.
- **The service**: its Lambda handler (`lambda_adapter.handler`), imported in a long-lived Python process as
  Lambda's runtime imports it, with `AUTH_MODE=gateway` (technicians' events carry the Cognito authorizer's
  claims), request logs on (JSON lines, to stderr), `PUBLIC_LIST_CACHE_SECONDS=0` (the public list read every
  time: with the default, a list read within 2 s of the last costs no DynamoDB call) and
  `PUBLIC_CREATE_LIMIT=100000`, otherwise the defaults; handed API Gateway REST proxy events for the
  website's five calls and the REST routes.
- **The course's code**, extracted from the lab texts at run time into `build/` and run in one long-lived
  Node.js process with the AWS SDK pinned in `bench/node`: the public list is the lab's
  `getDynamoServiceRequests` (module 5, one Scan); the form, module 6's `index.mjs` handler (one PutItem);
  the admin list and the status update, module 7's handler (one Scan; a GetItem then an UpdateItem; module 8's
  version publishes to SNS after that, which is left out); the history, module 9's handler (one Query). Each
  is handed an event for the course's own API Gateway resources.
- **Counted at the proxy**: every request and its answer is one DynamoDB call; the sequential round trips of
  an invocation are its waves of calls (calls that overlap in time are one wave; concurrent calls whose
  sending takes longer than the first one's round trip show as two). Write units are DynamoDB's
  own: the proxy adds `"ReturnConsumedCapacity": "TOTAL"` to each write that does not ask for it and reads
  `ConsumedCapacity` from the answer (1 unit per KB of the larger of the item before and after, rounded up;
  dynalite leaves out what a global secondary index adds, one unit more per write that touches
  `StatusIndex` on AWS, for both sides alike); a conditional write that is refused costs what DynamoDB
  charges for it, the checked item's size, one unit for the items here. dynalite does not check request
  signatures, so the changed request is taken as sent. "dynalite ms" is how long at least one of the
  invocation's requests was with dynalite, its queue included: dynalite answers one request at a time on
  this machine's two cores, shared with both runtimes, where DynamoDB answers concurrent calls in parallel
  elsewhere, so the service's concurrent Queries wait for each other here, and a Scan's cost grows with the
  table.
- **The table**: the lab's two rows (`python -m service init-table --seed`), three earlier, completed
  visits of 1J1957 and {rows} generated requests, {active} of them active. Before each batch the benchmark
  puts it back directly (not through the proxy): the lab's rows as seeded, the writes' requests deleted.
  Writes change a status every time (the two lab rows alternate between two statuses); forms all differ.
"""


def _as_make_command(argv: list[str]) -> str:
    """The run as `make bench-latency` makes it: the lab texts (paths of this machine) are the target's own,
    the other options go in LATENCY_ARGS."""
    options: list[str] = []
    arguments = iter(argv)
    for argument in arguments:
        if argument.endswith("-text"):
            next(arguments, None)
        elif not argument.startswith("--") or "-text=" not in argument:
            options.append(argument)
    if not options:
        return "make bench-latency"
    return f"make bench-latency LATENCY_ARGS={shlex.quote(shlex.join(options))}"


def _doc_body(command: str, machine: str, load: str, report: list[str], plot_path: Path, rows: int) -> str:
    picture = os.path.relpath(plot_path, ROOT / "docs")
    return (
        f"{DOC_INTRO.format(rows=rows, active=_active(rows))}\n"
        f"**This run**: {machine}; load average (1 minute) {load}.\n\n"
        f"```sh\n{command}\n```\n\n"
        "```\n" + "\n".join(report) + "\n```\n\n"
        f"![Each call's p50 and p99 with its sequential round trips]({picture})\n"
    )


def _texts_arguments(parser: argparse.ArgumentParser) -> None:
    for name, what in (
        ("form", "module 6's: the public form"),
        ("admin", "module 7's: the admin list and the status update"),
        ("history", "module 9's: the vehicle history"),
    ):
        default = DEFAULT_TEXTS[name]
        parser.add_argument(
            f"--{name}-text",
            type=Path,
            default=default if default.is_file() else None,
            required=not default.is_file(),
            metavar="PATH",
            help=f"the lab text of {what} (default: {os.path.relpath(default, ROOT)})",
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--delay-ms", type=float, default=2.0, help="each way, on every DynamoDB message")
    parser.add_argument(
        "--slow-delay-ms",
        type=float,
        default=25.0,
        help="a second delay, for the status update and histories with a typed plate (0: none)",
    )
    parser.add_argument("--runs", type=int, default=200, help="measured invocations of each call")
    parser.add_argument("--slow-runs", type=int, default=24, help="the same at the second delay")
    parser.add_argument("--batch", type=int, default=8, help="invocations of one call in a row")
    parser.add_argument("--rows", type=int, default=200, help="generated requests in the table")
    parser.add_argument(
        "--plot", type=Path, help="where the plot goes (docs/latency.png; build/latency.png with --no-docs)"
    )
    parser.add_argument(
        "--no-docs", action="store_true", help="leave docs/performance.md and its plot as they are"
    )
    add_lab_text_argument(parser)
    _texts_arguments(parser)
    args = parser.parse_args()
    args.plot = args.plot or ROOT / ("build" if args.no_docs else "docs") / "latency.png"
    if not 1 <= args.batch <= 40:
        # The status update's item keeps at most 50 statuses: a batch stays well inside them.
        parser.error("--batch must be from 1 to 40")
    code = extract(
        args.lab_text, {"form": args.form_text, "admin": args.admin_text, "history": args.history_text}
    )
    calls = service_calls() + course_calls(code)
    started = time.monotonic()
    load_start = os.getloadavg()[0]
    phases, loads = asyncio.run(_run(args, calls))
    load_end = os.getloadavg()[0]
    load = f"{load_start:.1f} at the start, {load_end:.1f} at the end, {max(loads):.1f} at most"

    report: list[str] = []
    for phase, runs in zip(phases, (args.runs, args.slow_runs), strict=False):
        report += [*table(phase.results, _phase_heading(phase, runs, args.batch)), ""]
        if phase.stray:
            report.append(f"  ({phase.stray} DynamoDB calls happened outside every invocation)")
    slow = phases[1].results if len(phases) > 1 else {}
    report += [
        f"What the service's calls send, wave by wave (at {args.delay_ms:g} ms; | between round trips)",
        *sequences(phases[0].results),
        "",
    ]
    report += [
        f"Targets (at {args.delay_ms:g} ms each way unless said; reported, not enforced)",
        *targets(phases[0].results, slow, args.slow_delay_ms),
    ]
    for phase in phases:
        for figures in phase.results.values():
            if figures.new_connections:
                report.append(
                    f"  note: {figures.call.side} {figures.call.label} opened {figures.new_connections} "
                    f"connection(s) while measured, at {phase.delay_ms:g} ms"
                )
            if figures.units_unreported:
                report.append(f"  note: a write of {figures.call.label} reported no write units")
    machine = _machine()
    print(f"Machine: {machine}; load average (1 minute) {load}")
    print("\n".join(report))
    plot(args.plot, phases[0].results, args.delay_ms, f"{load_start:.1f} to {load_end:.1f}")
    print(f"\nplot: {os.path.relpath(args.plot, ROOT)}; {time.monotonic() - started:.0f} s in all")
    if not args.no_docs:
        command = _as_make_command(sys.argv[1:])
        write_section(_doc_body(command, machine, load, report, args.plot, args.rows))
        print(f"docs/performance.md: the section after {BEGIN!r} rewritten")


if __name__ == "__main__":
    main()
