"""Cold start of the Lambda: ours (the deployable package, imported and answering its first
`GET /service-request`) beside the lab's Node.js code (imported and answering its first Scan),
both in fresh processes against the same moto server on 127.0.0.1.

    make lambda-zip && .venv/bin/python -m bench.cold_start [--runs 9] [--lab-text PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import time
from collections import defaultdict
from contextlib import AsyncExitStack
from pathlib import Path

from bench.common import NODE_DIR, ROOT, add_lab_text_argument, lab_dynamo_service, local_aws_env, median_ms
from scripts.lambda_zip import PACKAGE_DIR, interpreter
from service.dynamo import open_client
from service.lab import seed
from service.settings import Settings
from service.table import ensure_tables
from tests.servers import moto_server

PYTHON_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
from lambda_adapter.handler import handler
t1 = time.perf_counter()
response = handler(json.loads(sys.argv[1]), None)
t2 = time.perf_counter()
assert response["statusCode"] == 200, response
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "items": len(json.loads(response["body"]))}))
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


async def _prepare_table(endpoint: str) -> None:
    settings = Settings(dynamodb_mode="endpoint", dynamodb_endpoint=endpoint, table_name="VehicleServices")
    async with AsyncExitStack() as stack:
        await ensure_tables(await open_client(settings, stack), settings)
    from service.dynamo import Backend

    backend = Backend(settings)
    await seed(await backend.repository())
    await backend.aclose()


def _run(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{done.stderr}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "process": wall}


def _import_profile(python: str, env: dict[str, str], top: int = 12) -> list[tuple[str, float]]:
    """Import time by top-level package, from `python -X importtime`: each module's own time, summed."""
    done = subprocess.run(
        [python, "-X", "importtime", "-c", "import lambda_adapter.handler"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    by_package: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        own, _, name = line.removeprefix("import time:").split("|")
        if own.strip().isdigit():
            by_package[name.strip().split(".")[0]] += int(own) / 1000
    return sorted(by_package.items(), key=lambda kv: -kv[1])[:top]


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--python-version", default="3.13")
    add_lab_text_argument(parser)
    args = parser.parse_args()
    if not (PACKAGE_DIR / "lambda_adapter" / "handler.py").exists():
        raise SystemExit("build the package first: make lambda-zip")
    python = interpreter(args.python_version)
    lab = lab_dynamo_service(args.lab_text)

    samples: dict[str, list[dict[str, float]]] = {"python": [], "node": []}
    with moto_server() as endpoint:
        asyncio.run(_prepare_table(endpoint))
        common = local_aws_env(endpoint)
        python_env = {
            **common,
            "PYTHONPATH": str(PACKAGE_DIR),
            "AUTH_MODE": "gateway",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for _ in range(args.runs):
            samples["python"].append(
                _run([python, "-c", PYTHON_SNIPPET, json.dumps(EVENT)], python_env, PACKAGE_DIR)
            )
            samples["node"].append(_run(["node", "cold_start_runner.mjs", str(lab)], common, NODE_DIR))

    print(f"Cold start, median of {args.runs} fresh processes each, against moto on 127.0.0.1")
    print(f"{'':32}{'import':>10}{'first answer':>14}{'both':>10}{'process':>10}")
    medians: dict[str, dict[str, float]] = {}
    for name, label in (
        ("python", f"service (python{args.python_version})"),
        ("node", "lab dynamoService.mjs"),
    ):
        runs = samples[name]
        m = {key: median_ms([r[key] for r in runs]) for key in ("import", "first", "process")}
        m["both"] = median_ms([r["import"] + r["first"] for r in runs])
        medians[name] = m
        print(
            f"{label:32}{m['import']:>8.0f}ms{m['first']:>12.0f}ms{m['both']:>8.0f}ms{m['process']:>8.0f}ms"
        )
    ratio = medians["python"]["both"] / medians["node"]["both"]
    ratio_process = medians["python"]["process"] / medians["node"]["process"]
    print(
        f"ratio service/lab: {ratio:.2f}x import+first answer, "
        f"{ratio_process:.2f}x whole process (target: at most 2x)"
    )
    print(
        f"items answered: service {samples['python'][0]['items']:.0f}, lab {samples['node'][0]['items']:.0f}"
    )
    print("\nWhere the service's import time goes (python -X importtime: own time summed by package, ms):")
    for package, ms in _import_profile(python, python_env):
        print(f"  {package:28}{ms:8.1f}")
    print(f"\nrun from {ROOT}")


if __name__ == "__main__":
    main()
