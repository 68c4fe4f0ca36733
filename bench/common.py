"""What the benchmarks share: the lab's own Node.js code, taken from the lab's text into build/ (it loads the
npm packages pinned in bench/node), and the environment of child processes that use the local DynamoDB."""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
from pathlib import Path

from bench.table import REGION

ROOT = Path(__file__).resolve().parent.parent
# The runners (checked in) and the AWS SDK for JavaScript v3 that they and the lab's code load.
NODE_DIR = ROOT / "bench" / "node"
# Written at run time, outside the source tree.
LAB_BUILD_DIR = ROOT / "build" / "bench-lab"
# Where the lab's text is in a checkout beside the project's shared folder.
DEFAULT_LAB_TEXT = ROOT.parent / "shared" / "seeds" / "000_4f51074e58ba1c9f.txt"


def add_lab_text_argument(parser: argparse.ArgumentParser) -> None:
    """`--lab-text PATH`: the lab's text; it defaults to DEFAULT_LAB_TEXT, and is required without it."""
    default = DEFAULT_LAB_TEXT if DEFAULT_LAB_TEXT.is_file() else None
    parser.add_argument(
        "--lab-text",
        type=Path,
        default=default,
        required=default is None,
        metavar="PATH",
        help="the lab's text, whose dynamoService.mjs is run "
        f"(default: {os.path.relpath(DEFAULT_LAB_TEXT, ROOT)}, relative to the checkout, when it exists)",
    )


def lab_dynamo_service(lab_text: Path) -> Path:
    """The lab's `dynamoService.mjs`, extracted from `lab_text` as it stands into LAB_BUILD_DIR; its path."""
    _, marker, after = lab_text.read_text(encoding="utf-8").partition("Name it *dynamoService.mjs*")
    match = re.search(r"```\n(.*?)```", after, re.DOTALL) if marker else None
    if match is None:
        raise SystemExit(f"no dynamoService.mjs code block in {lab_text}")
    if not (NODE_DIR / "node_modules" / "@aws-sdk" / "lib-dynamodb").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True)
    LAB_BUILD_DIR.mkdir(parents=True, exist_ok=True)
    # Node looks for the lab's imports from the lab's own folder: a link there to bench/node's packages
    # makes it load the very modules the runners load (the active list's runner wraps the SDK's `send`).
    packages = LAB_BUILD_DIR / "node_modules"
    if not packages.is_symlink():
        packages.symlink_to(
            os.path.relpath(NODE_DIR / "node_modules", LAB_BUILD_DIR), target_is_directory=True
        )
    target = LAB_BUILD_DIR / "dynamoService.mjs"
    target.write_text(match.group(1), encoding="utf-8")
    return target


def local_aws_env(endpoint: str) -> dict[str, str]:
    """A child process's whole environment for the DynamoDB server at `endpoint`: PATH, the region and
    dummy credentials (a local server takes any), and no probing for instance metadata."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


# valgrind's callgrind, counting the instructions of the process it runs and writing no profile.
CALLGRIND = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]


def instructions(command: list[str], env: dict[str, str], cwd: Path) -> int:
    """The instructions a process executes from its start to its exit, as valgrind's callgrind counts them:
    the same on a busy machine as on a quiet one (with Python's hash seed fixed)."""
    done = subprocess.run(
        [*CALLGRIND, *command],
        env={**env, "PYTHONHASHSEED": "0"},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return collected(done.stderr)


def collected(report: str) -> int:
    """The instruction count in valgrind's report on one process."""
    match = re.search(r"Collected : (\d+)", report)
    if match is None:
        raise SystemExit(f"no instruction count from valgrind:\n{report}")
    return int(match.group(1))
