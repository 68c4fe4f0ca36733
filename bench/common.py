"""What the benchmarks share: the lab's own Node.js code, and a DynamoDB server holding the lab's table."""

from __future__ import annotations

import re
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seeds" / "000_4f51074e58ba1c9f.txt"
NODE_DIR = ROOT / "bench" / "node"


def lab_dynamo_service() -> Path:
    """The lab's `dynamoService.mjs`, extracted from the lab's text as it stands, beside its npm packages."""
    text = SEED.read_text(encoding="utf-8")
    after = text.split("Name it *dynamoService.mjs*", 1)[1]
    match = re.search(r"```\n(.*?)```", after, re.DOTALL)
    if match is None:
        raise SystemExit(f"no dynamoService.mjs code block in {SEED}")
    target = NODE_DIR / "dynamoService.mjs"
    target.write_text(match.group(1), encoding="utf-8")
    if not (NODE_DIR / "node_modules" / "@aws-sdk" / "lib-dynamodb").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True)
    return target


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000
