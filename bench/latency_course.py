"""The course's own Node.js code for the website's five calls, extracted at run time from the course's lab
texts into build/bench-course/ (never into the source tree), each module in a folder of its own beside a link
to bench/node's pinned packages.

- the public list: the lab's `dynamoService.mjs` (module 5, bench.common extracts it), one Scan;
- the public form: module 6's `index.mjs` handler and `dynamoService.mjs`, one PutItem;
- the admin list and the status update: module 7's `index.mjs` handler and `adminDynamoService.mjs`, one Scan,
  and a GetItem then an UpdateItem (module 8 adds an SNS Publish after the write, outside DynamoDB);
- the vehicle history: module 9's `index.mjs` handler and `adminVehicleHistory.mjs`, one Query.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.common import NODE_DIR, ROOT, lab_dynamo_service

COURSE_BUILD_DIR = ROOT / "build" / "bench-course"
DEFAULT_COURSE_DIR = ROOT.parent / "shared" / "seeds" / "course"

# Module 6's index.mjs imports the hard-coded list of an earlier module (dataService.mjs), which none of these
# texts holds and its handler never calls for a POST: this stands in for it.
DATA_SERVICE_STAND_IN = (
    "// Stands in for an earlier module's hard-coded list, which module 6's index.mjs imports and, for the\n"
    "// calls measured here, never calls.\nexport const getServiceRequests = () => [];\n"
)


@dataclass(frozen=True)
class CourseFile:
    """A file of a module's code: its name, and the words of the lab text that the code block follows."""

    name: str
    after: str


# Each module's files, as its lab text introduces them.
MODULE_FILES = {
    "form": (
        CourseFile("dynamoService.mjs", "Update the *dynamoService.mjs* code"),
        CourseFile("index.mjs", "Update the *index.mjs* code"),
    ),
    "admin": (
        CourseFile("adminDynamoService.mjs", "Create a file named *adminDynamoService.mjs*"),
        CourseFile("index.mjs", "Update the *index.mjs* with the following code"),
    ),
    "history": (
        CourseFile("index.mjs", "Update the *index.mjs* code"),
        CourseFile("adminVehicleHistory.mjs", "Create a new file *adminVehicleHistory.mjs*"),
    ),
}
DEFAULT_TEXTS = {
    "form": DEFAULT_COURSE_DIR / "module-06-project-lab.md",
    "admin": DEFAULT_COURSE_DIR / "module-07-project-lab.md",
    "history": DEFAULT_COURSE_DIR / "module-09-project-lab.md",
}


@dataclass(frozen=True)
class CourseCode:
    """Where each extracted module is: the lab's dynamoService.mjs, and each later module's index.mjs."""

    lab: Path
    form: Path
    admin: Path
    history: Path


def code_after(text: str, words: str, source: Path) -> str:
    """The first code block of `text` after `words`."""
    _, found, after = text.partition(words)
    match = re.search(r"```[a-z]*\n(.*?)```", after, re.DOTALL) if found else None
    if match is None:
        raise SystemExit(f"no code block after {words!r} in {source}")
    return match.group(1)


def _npm_packages() -> None:
    """bench/node's pinned packages, installed when one the course's code imports is missing."""
    packages = NODE_DIR / "node_modules" / "@aws-sdk"
    if not all((packages / name).exists() for name in ("client-dynamodb", "lib-dynamodb", "client-sns")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True)


def _module(name: str, text_path: Path) -> Path:
    """Extract module `name`'s files from `text_path`; the path of its entry file (index.mjs)."""
    text = text_path.read_text(encoding="utf-8")
    folder = COURSE_BUILD_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    packages = folder / "node_modules"
    if not packages.is_symlink():
        packages.symlink_to(os.path.relpath(NODE_DIR / "node_modules", folder), target_is_directory=True)
    for file in MODULE_FILES[name]:
        (folder / file.name).write_text(code_after(text, file.after, text_path), encoding="utf-8")
    if name == "form":
        (folder / "dataService.mjs").write_text(DATA_SERVICE_STAND_IN, encoding="utf-8")
    return folder / "index.mjs"


def extract(lab_text: Path, texts: dict[str, Path]) -> CourseCode:
    """Every module's code, from the texts as they stand."""
    _npm_packages()
    return CourseCode(
        lab=lab_dynamo_service(lab_text),
        form=_module("form", texts["form"]),
        admin=_module("admin", texts["admin"]),
        history=_module("history", texts["history"]),
    )
