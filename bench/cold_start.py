"""Cold start of the Lambda, against one moto server on 127.0.0.1, in fresh processes, run after run:

- the lab's Node.js code (`dynamoService.mjs`): imported, answering its first Scan;
- the floor: a Python process that only imports fastapi, pydantic, aioboto3 and mangum, opens one DynamoDB
  client and makes one Query, on the same package;
- the service cold: the deployable package (`make lambda-zip`), its handler imported and answering its first
  `GET /service-request`;
- the service restored: SnapStart simulated (tests/support/snapstart_copies.py): a process imports the
  handler and runs the before-snapshot hooks, then forks; the copy runs the after-restore hooks and answers
  the same request.

It prints the medians and ratios against the targets, each run's figures, where the cold start's import time
goes (`python -X importtime`), and draws docs/cold-start.png. With --before DIR (an earlier build's
build/lambda) that build's cold start runs too and its import time is shown beside; with --instructions the
floor's and the cold starts' instructions are counted under valgrind, which no other load on the machine
changes.

    make lambda-zip && .venv/bin/python -m bench.cold_start [--runs 9] [--lab-text PATH] [--before DIR]
        [--instructions]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    NODE_DIR,
    ROOT,
    add_lab_text_argument,
    instructions,
    lab_dynamo_service,
    local_aws_env,
)
from scripts.lambda_zip import PACKAGE_DIR, interpreter
from service.core.settings import Settings
from service.local.lab_rows import seed
from service.storage.backend import Backend, open_client
from service.storage.tables import ensure_tables
from tests.support.servers import moto_server

# What Lambda's Python runtime provides beside the package: SnapStart's hook registry, copied from the
# development install.
RUNTIME_DIR = ROOT / "build" / "bench-runtime"
SNAPSTART_COPIES = ROOT / "tests" / "support" / "snapstart_copies.py"

COLD = """
import json, sys, time
t0 = time.perf_counter()
from lambda_adapter.handler import handler
t1 = time.perf_counter()
response = handler(json.loads(sys.argv[1]), None)
t2 = time.perf_counter()
answered = time.monotonic()
assert response["statusCode"] == 200, response
items = len(json.loads(response["body"]))
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "items": items, "answered": answered}))
"""

# What a new user's first try costs: the same libraries, one client, one Query, no service.
FLOOR = """
import asyncio, json, os, time
t0 = time.perf_counter()
import aioboto3, fastapi, mangum, pydantic
t1 = time.perf_counter()

async def first_query():
    async with aioboto3.Session(region_name=os.environ["AWS_REGION"]).client("dynamodb") as dynamodb:
        return await dynamodb.query(
            TableName="VehicleServices",
            IndexName="StatusIndex",
            KeyConditionExpression="service_status = :status",
            ExpressionAttributeValues={":status": {"S": "Accepted"}},
        )

items = asyncio.run(first_query())["Count"]
t2 = time.perf_counter()
answered = time.monotonic()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "items": items, "answered": answered}))
"""

EVENT = {
    "resource": "/service-request",
    "path": "/service-request",
    "httpMethod": "GET",
    "headers": {"Accept": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com"},
    "multiValueHeaders": {"Accept": ["application/json"]},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "stageVariables": None,
    "requestContext": {
        "path": "/prod/service-request",
        "stage": "prod",
        "httpMethod": "GET",
        "identity": {"sourceIp": "203.0.113.7"},
        "requestId": "bench",
    },
    "body": None,
    "isBase64Encoded": False,
}

ROWS = {
    "node": "lab dynamoService.mjs (Node.js)",
    "floor": "floor: the libraries, 1 Query",
    "cold": "service, cold",
    "before": "service cold, the --before build",
    "restored": "service, restored (fork)",
}


async def _prepare_table(endpoint: str) -> None:
    settings = Settings(dynamodb_mode="endpoint", dynamodb_endpoint=endpoint, table_name="VehicleServices")
    async with AsyncExitStack() as stack:
        await ensure_tables(await open_client(settings, stack), settings)
    backend = Backend(settings)
    await seed(await backend.repository())
    await backend.aclose()


def _runtime_dir() -> Path:
    """A folder holding only snapshot_restore_py, as Lambda's runtime has it beside the package."""
    spec = importlib.util.find_spec("snapshot_restore_py")
    if spec is None or spec.origin is None:
        raise SystemExit("snapshot-restore-py is missing: make .venv/.installed")
    RUNTIME_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(spec.origin, RUNTIME_DIR / "snapshot_restore_py.py")
    return RUNTIME_DIR


def _run(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run a fresh process; its last line of JSON, with the seconds from its start to its answer."""
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if "answered" in figures:
        figures["start_to_answer"] = figures["answered"] - started
    return figures


def _restored(python: str, env: dict[str, str]) -> dict[str, float]:
    done = _run([python, "-P", str(SNAPSTART_COPIES), json.dumps(EVENT)], env, PACKAGE_DIR)
    (copy,) = done["copies"]
    response = copy["response"]
    assert response["statusCode"] == 200, response
    return {
        "restore": copy["restore"],
        "items": len(json.loads(response["body"])),
        "init": done["import"],
        "before_snapshot": done["before_snapshot"],
    }


@dataclass
class ImportProfile:
    """Where a cold start's import time goes, from `python -X importtime` (ms, the median of some runs)."""

    by_package: dict[str, float]  # each module's own time, summed by top-level package
    handler: float  # the handler module's own: what its import does besides importing (the initialisation)
    modules: set[str]  # what was imported (importtime also lists the imports that failed)


# Nothing a request needs imports these; the development install has some of them (aiobotocore imports
# httpx where it is installed, and httpx imports rich and pygments).
NOT_NEEDED = (
    "httpx",
    "rich",
    "pygments",
    "uvicorn",
    "pythonjsonlogger",
    "jwt",
    "cryptography",
    "tqdm",
    "moto",
)
HANDLER = "lambda_adapter.handler"


def _import_profile(python: str, env: dict[str, str], package: Path, runs: int = 3) -> ImportProfile:
    """A cold start (the handler's import and first answer) of `package` under `python -X importtime`."""
    by_package: dict[str, list[float]] = defaultdict(list)
    handler: list[float] = []
    modules: set[str] = set()
    code = COLD + "\nprint(json.dumps(sorted(sys.modules)))"
    for _ in range(runs):
        done = subprocess.run(
            [python, "-X", "importtime", "-c", code, json.dumps(EVENT)],
            env={**env, "PYTHONPATH": str(package)},
            cwd=package,
            capture_output=True,
            text=True,
            check=True,
        )
        own: dict[str, float] = defaultdict(float)
        for line in done.stderr.splitlines():
            if not line.startswith("import time:"):
                continue
            microseconds, _, name = line.removeprefix("import time:").split("|")
            if microseconds.strip().isdigit():  # not the header
                own[name.strip()] += int(microseconds) / 1000
        modules |= set(json.loads(done.stdout.strip().splitlines()[-1]))
        handler.append(own.pop(HANDLER, 0.0))
        packages: dict[str, float] = defaultdict(float)
        for name, ms in own.items():
            packages[name.split(".")[0]] += ms
        for name in packages.keys() | by_package.keys():
            by_package[name].append(packages.get(name, 0.0))
    return ImportProfile(
        {name: statistics.median(values) for name, values in by_package.items()},
        statistics.median(handler),
        modules,
    )


def _print_import_table(after: ImportProfile, before: ImportProfile | None, top: int = 16) -> None:
    print(
        "\nWhere the cold start's import time goes (python -X importtime of the handler's import and its "
        "first answer: each module's own time summed by top-level package, ms, median of 3 processes)"
    )
    profiles = [p for p in (before, after) if p is not None]
    print("  " + f"{'':34}" + "".join(f"{label:>9}" for label in ("before", "after")[-len(profiles) :]))
    names = sorted(after.by_package, key=lambda n: -after.by_package[n])
    if before is not None:
        names = sorted(
            before.by_package.keys() | after.by_package.keys(),
            key=lambda n: -max(before.by_package.get(n, 0), after.by_package.get(n, 0)),
        )

    def row(label: str, figures: list[float], form: str = "9.1f") -> None:
        print(f"  {label:34}" + "".join(f"{figure:{form}}" for figure in figures))

    for name in names[:top]:
        row(name, [p.by_package.get(name, 0) for p in profiles])
    row("everything else", [sum(p.by_package.get(n, 0) for n in names[top:]) for p in profiles])
    row("imports in all", [sum(p.by_package.values()) for p in profiles])
    row("the handler module's own code", [p.handler for p in profiles])
    row("modules imported", [len(p.modules) for p in profiles], "9.0f")
    print("  (the handler module's own code: initialisation at import, the app built and the client opened)")
    if before is not None:
        packages = {name.split(".")[0] for name in after.modules}
        gone = sorted({name.split(".")[0] for name in before.modules} - packages)
        print(f"  no longer imported: {', '.join(gone) or 'nothing'}")
    imported = [name for name in NOT_NEEDED if name in {n.split(".")[0] for n in after.modules}]
    print(f"  imported though a request does not need it: {', '.join(imported) or 'nothing'}")


def _print_instructions(counts: dict[str, int]) -> None:
    print("\nInstructions executed from the process's start to its exit (valgrind's callgrind, one process)")
    for kind, count in counts.items():
        print(f"  {ROWS[kind]:34}{count / 1e6:9,.0f} M{count / counts['floor']:8.3f}x the floor")


def _machine(node_version: str, python_version: str) -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}; "
        f"Python {python_version}, Node.js {node_version}"
    )


def _plot(path: Path, runs: list[dict[str, dict[str, Any]]], load: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = (
        ("node", "start_to_answer", "Node.js lab code, cold (process start to answer)"),
        ("cold", "start_to_answer", "service, cold (process start to answer)"),
        ("restored", "restore", "service, restored (fork to answer)"),
    )
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    width = 0.27
    for offset, (key, figure, label) in enumerate(bars):
        positions = [i + (offset - 1) * width for i in range(len(runs))]
        ax.bar(positions, [run[key][figure] * 1000 for run in runs], width, label=label)
    node_median = statistics.median(run["node"]["start_to_answer"] for run in runs) * 1000
    ax.axhline(1.5 * node_median, color="grey", linestyle="--", linewidth=1, label="1.5x Node.js (median)")
    ax.set_xticks(range(len(runs)), [str(i + 1) for i in range(len(runs))])
    ax.set(xlabel="run", ylabel="ms")
    ax.set_title(
        f"Cold start and SnapStart restore, per run (moto, 127.0.0.1; load average {load})", fontsize=10
    )
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    print(f"\nplot: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def _median_ms(runs: list[dict[str, dict[str, Any]]], key: str, figure: str) -> float:
    return float(statistics.median(run[key][figure] for run in runs)) * 1000


def _report(runs: list[dict[str, dict[str, Any]]]) -> None:
    print(f"\nMedian of {len(runs)} runs, ms")
    print(f"  {'':34}{'import':>9}{'first':>9}{'both':>9}{'start to answer':>17}")
    kinds = [key for key in ROWS if key in runs[0]]
    for key in kinds:
        label = ROWS[key]
        if key == "restored":
            restore = _median_ms(runs, key, "restore")
            print(f"  {label:34}{'':>27}{restore:>14.0f}   (fork to answer)")
            continue
        for run in runs:
            run[key]["both"] = run[key]["import"] + run[key]["first"]
        figures = [_median_ms(runs, key, f) for f in ("import", "first", "both", "start_to_answer")]
        print(f"  {label:34}" + "".join(f"{f:9.0f}" for f in figures[:3]) + f"{figures[3]:17.0f}")
    init = _median_ms(runs, "restored", "init")
    hooks = _median_ms(runs, "restored", "before_snapshot")
    print(f"  (the snapshot's initialisation: import {init:.0f} ms, before-snapshot hooks {hooks:.0f} ms)")

    def compare(label: str, key: str, figure: str, base: str, base_figure: str) -> None:
        if key in kinds:
            of_medians = _median_ms(runs, key, figure) / _median_ms(runs, base, base_figure)
            of_runs = statistics.median(run[key][figure] / run[base][base_figure] for run in runs)
            print(f"  {label:67}{of_medians:6.2f}x{of_runs:8.2f}x")

    print("\nAgainst the targets: the ratio of the medians, and the median of the runs' own ratios")
    fork_to_answer = ("restored", "restore", "node", "start_to_answer")
    compare("restored, fork to answer / Node.js, start to answer (at most 1.5x)", *fork_to_answer)
    compare("service cold / floor, import + first answer (at most 1.15x)", "cold", "both", "floor", "both")
    compare("service cold / Node.js, import + first answer", "cold", "both", "node", "both")
    compare("the --before build cold / floor, import + first answer", "before", "both", "floor", "both")
    items = {key: {run[key]["items"] for run in runs} for key in kinds}
    print(f"  items answered: {', '.join(f'{key} {sorted(found)}' for key, found in items.items())}")

    print("\nEach run, ms: from the process's start to the answer; restored, from the fork to the answer")
    print(f"  {'run':>4}" + "".join(f"{key:>10}" for key in kinds))
    for i, run in enumerate(runs, 1):
        row = [run[k]["restore" if k == "restored" else "start_to_answer"] * 1000 for k in kinds]
        print(f"  {i:>4}" + "".join(f"{ms:10.0f}" for ms in row))


def arguments() -> argparse.ArgumentParser:
    """The command line, its defaults what a plain `make bench-cold-start` runs (docs/performance.md)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--python-version", default="3.13")
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="an earlier build's package folder (its build/lambda): its cold start and import time beside",
    )
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "cold-start.png")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions of the floor and the cold starts under valgrind (minutes)",
    )
    add_lab_text_argument(parser)
    return parser


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    args = arguments().parse_args()
    if not (PACKAGE_DIR / "lambda_adapter" / "handler.py").exists():
        raise SystemExit("build the package first: make lambda-zip")
    python = interpreter(args.python_version)
    lab = lab_dynamo_service(args.lab_text)
    runtime = _runtime_dir()
    node_version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    python_version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    load_start = os.getloadavg()

    runs: list[dict[str, dict[str, Any]]] = []
    with moto_server() as endpoint:
        asyncio.run(_prepare_table(endpoint))
        common = local_aws_env(endpoint)
        python_env = {
            **common,
            "PYTHONPATH": str(PACKAGE_DIR),
            "AUTH_MODE": "gateway",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        restore_env = {**python_env, "PYTHONPATH": os.pathsep.join([str(PACKAGE_DIR), str(runtime)])}
        cold = [python, "-c", COLD, json.dumps(EVENT)]
        kinds: dict[str, Callable[[], dict[str, Any]]] = {
            "node": lambda: _run(["node", "cold_start_runner.mjs", str(lab)], common, NODE_DIR),
            "floor": lambda: _run([python, "-c", FLOOR], python_env, PACKAGE_DIR),
            "cold": lambda: _run(cold, python_env, PACKAGE_DIR),
            "restored": lambda: _restored(python, restore_env),
        }
        if args.before:
            before_env = {**python_env, "PYTHONPATH": str(args.before)}
            kinds["before"] = lambda: _run(cold, before_env, args.before)
        order = list(kinds)
        for i in range(args.runs):
            # The order turns from run to run: no kind always runs right after the same other one.
            turn = order[i % len(order) :] + order[: i % len(order)]
            runs.append({kind: kinds[kind]() for kind in turn})
        after = _import_profile(python, python_env, PACKAGE_DIR)
        before = _import_profile(python, python_env, args.before) if args.before else None
        counts: dict[str, int] = {}
        if args.instructions:
            counts["floor"] = instructions([python, "-c", FLOOR], python_env, PACKAGE_DIR)
            counts["cold"] = instructions(cold, python_env, PACKAGE_DIR)
            if args.before:
                counts["before"] = instructions(cold, before_env, args.before)
    load_end = os.getloadavg()

    print(f"Cold start against moto on 127.0.0.1: {args.runs} runs, each a fresh process of every kind")
    print(f"Machine: {_machine(node_version.strip(), python_version.strip())}")
    load = f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end"
    print(f"Load average (1 min): {load}")
    _report(runs)
    _print_import_table(after, before)
    if counts:
        _print_instructions(counts)
    _plot(args.plot, runs, f"{load_start[0]:.1f}-{load_end[0]:.1f}")


if __name__ == "__main__":
    main()
