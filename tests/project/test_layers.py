"""The packages' layering, as rules per package: each imports only from the packages below it, only the
storage package imports DynamoDB's libraries, and nothing below the HTTP layer imports FastAPI or Starlette.
Imports anywhere count: in functions and TYPE_CHECKING blocks too."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("service", "lambda_adapter")

# The parts, lowest first; a part imports only from parts of a lower rank, and from its own modules without
# a circle. `service` is the package's own top: the command line, `python -m service`.
RANK = {
    "service.core": 0,
    "service.storage": 1,
    "service.identity": 1,
    "service.events": 2,
    "service.local": 2,
    "service.http": 3,
    "service": 4,
    "lambda_adapter": 4,
}
# Where each third-party library may be imported (by its top-level name).
ONLY_IN = {
    "aioboto3": {"service.storage"},
    "aiobotocore": {"service.storage"},
    "botocore": {"service.storage"},
    "aiohttp": {"service.storage"},
    "moto": {"service.local"},
    "fastapi": {"service.http", "service", "lambda_adapter"},
    # Identity reads an HTTP connection's headers (Starlette's HTTPConnection), and nothing else of it.
    "starlette": {"service.http", "service.identity", "service", "lambda_adapter"},
    "uvicorn": {"service.http", "service"},
    "mangum": {"lambda_adapter"},
}
# The AWS clients, which the storage package opens: the parts handed one (the relay, the lab's queues, the
# commands, the Lambda's functions) may name its type, for the type checker only. Core, identity and the HTTP
# layer never do.
CLIENT_TYPES = (
    "types_aiobotocore_dynamodb",
    "types_aiobotocore_dynamodbstreams",
    "types_aiobotocore_sns",
    "types_aiobotocore_sqs",
)
TYPED_CLIENTS_IN = {"service.storage", "service.events", "service.local", "service", "lambda_adapter"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for package in PROJECT for path in sorted((ROOT / package).rglob("*.py"))}


def part(module: str) -> str:
    """The part a module belongs to: its package under `service`, or the top package itself."""
    if module.startswith("service."):
        candidate = ".".join(module.split(".")[:2])
        return candidate if candidate in RANK else "service"
    return module.split(".")[0]


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Every module name `path` imports anywhere, with whether the import is for the type checker only."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, typing_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, typing_only))
            found.extend((f"{node.module}.{alias.name}", typing_only) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child, typing_only or _type_checking(node))

    visit(ast.parse(path.read_text()), False)
    return found


def _project_imports(module: str) -> set[str]:
    return {name for name, _ in _imports(MODULES[module]) if name in MODULES and name != module}


def test_every_module_belongs_to_a_ranked_part() -> None:
    assert {part(module) for module in MODULES} <= set(RANK)
    # Every package under service/ is a ranked part: a new one is placed on purpose.
    packages = {f"service.{path.parent.name}" for path in (ROOT / "service").glob("*/__init__.py")}
    assert packages <= set(RANK), packages - set(RANK)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_part_imports_only_from_parts_below_it(module: str) -> None:
    upward = {
        imported
        for imported in _project_imports(module)
        if part(imported) != part(module) and RANK[part(imported)] >= RANK[part(module)]
    }
    assert not upward, f"{module} ({part(module)}) imports from its own rank or above: {upward}"


def test_no_import_circle_inside_a_part() -> None:
    graph = {module: _project_imports(module) for module in MODULES}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the circle


@pytest.mark.parametrize("module", sorted(MODULES))
def test_libraries_are_imported_only_where_they_belong(module: str) -> None:
    misplaced = set()
    for name, typing_only in _imports(MODULES[module]):
        top = name.split(".")[0]
        if top in ONLY_IN and part(module) not in ONLY_IN[top]:
            misplaced.add(name)
        outside = part(module) not in TYPED_CLIENTS_IN or not typing_only
        if top in CLIENT_TYPES and outside and part(module) != "service.storage":
            misplaced.add(name)
    assert not misplaced, f"{module} ({part(module)}) imports {sorted(misplaced)}"


def test_the_rules_see_lazy_and_type_only_imports(tmp_path: Path) -> None:
    """The rules read imports inside functions and TYPE_CHECKING blocks, not only at the top."""
    source = tmp_path / "example.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from types_aiobotocore_sns import SNSClient\n"
        "def lazily():\n"
        "    import botocore.config\n"
        "    from service.storage import repository\n"
    )
    assert set(_imports(source)) == {
        ("typing", False),
        ("typing.TYPE_CHECKING", False),
        ("types_aiobotocore_sns", True),
        ("types_aiobotocore_sns.SNSClient", True),
        ("botocore.config", False),
        ("service.storage", False),
        ("service.storage.repository", False),
    }
