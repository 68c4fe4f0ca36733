"""The modules' layering: each imports only from layers below its own, so there is no import circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("service", "lambda_adapter")

# Lowest first. A new module gets a place here on purpose.
LAYERS: list[set[str]] = [
    {"service", "service.hosts"},
    {
        "service.models",
        "service.errors",
        "service.settings",
        "service.identity",
        "service.logs",
        "service.clock",
        "service.collection",
    },
    {
        "service.expressions",
        "service.guard",
        "service.cursor",
        "service.embedded",
        "service.jwks",
        "service.cache",
        "service.clients",
        "service.warmup",
    },
    {"service.idempotency", "service.caller"},
    {"service.ratelimit"},
    {"service.table"},
    {"service.repository", "service.labqueues"},
    {"service.events"},
    {"service.failures"},
    {"service.relay"},
    {
        "service.lab",
        "service.audit",
        "service.dynamo",
        "service.responses",
        "service.cognito",
        "service.groups",
    },
    {
        "service.auth",
        "service.requestlog",
        "service.docs",
        "service.bodylimit",
        "service.connections",
    },
    {"service.deps", "service.cors"},
    {"service.nostore"},
    {"service.edge"},
    {
        "service.routes",
        "service.routes.health",
        "service.routes.requests",
        "service.routes.website",
    },
    {"service.app", "lambda_adapter.shapes"},
    {
        "service.cli",
        "lambda_adapter",
        "lambda_adapter.events",
        "lambda_adapter.stream",
        "lambda_adapter.snapstart",
    },
    {"service.__main__", "lambda_adapter.handler"},
]
LAYER = {module: place for place, modules in enumerate(LAYERS) for module in modules}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
}


def _imports(path: Path) -> set[str]:
    """The project's modules that `path` imports anywhere (in functions and TYPE_CHECKING blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in MODULES}
    return found


def test_every_module_has_a_layer() -> None:
    assert set(MODULES) == set(LAYER)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_from_below_its_layer(module: str) -> None:
    upward = {
        imported: LAYER[imported]
        for imported in _imports(MODULES[module])
        if LAYER[imported] >= LAYER[module]
    }
    assert not upward, f"{module} (layer {LAYER[module]}) imports from its own layer or above: {upward}"
