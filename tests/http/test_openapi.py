"""The OpenAPI document: every route summarised, typed and illustrated; errors in one shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from service.http.app import create_app
from service.http.routes import health, requests, website
from tests.support.helpers import make_settings


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document: dict[str, Any] = create_app(make_settings("http://127.0.0.1:9")).openapi()
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def test_every_operation_has_a_summary_and_typed_json_answers(spec: dict[str, Any]) -> None:
    operations = _operations(spec)
    assert len(operations) >= 9
    for method, path, op in operations:
        assert op.get("summary"), f"{method} {path} has no summary"
        for status, response in op["responses"].items():
            if status == "204":
                assert "content" not in response
                continue
            schema = response["content"]["application/json"]["schema"]
            assert "$ref" in schema or schema.get("type") in ("array", "string"), f"{method} {path} {status}"
            if schema.get("type") == "array":
                assert "$ref" in schema["items"], f"{method} {path} {status} lists untyped items"


def test_every_error_answer_is_the_error_body(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        for status, response in op["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, f"{method} {path} {status}"


def test_the_error_body_is_built_once_not_for_every_documented_answer() -> None:
    """The routes document their errors by the error body's schema, so building them builds no model for
    each (status, route): the schema is written once, with the rest of the document, when it is asked for."""
    routers = (website.router, website.admin, requests.router, health.router)
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    assert len(routes) >= 14
    assert [route.path for route in routes if route.response_fields] == []
    schemas = create_app(make_settings("http://127.0.0.1:9")).openapi()["components"]["schemas"]
    assert schemas["ErrorBody"]["properties"]["fields"]["items"] == {
        "$ref": "#/components/schemas/FieldError"
    }
    assert set(schemas["FieldError"]["properties"]) == {"field", "location", "message"}


def test_every_body_schema_carries_an_example(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    referenced = {
        ref.rsplit("/", 1)[1]
        for _, _, op in _operations(spec)
        for part in [op.get("requestBody", {}), *op["responses"].values()]
        for ref in [part.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")]
        if ref
    }
    assert {"ServiceRequest", "ServiceRequestCreate", "ServiceRequestUpdate", "ErrorBody"} <= referenced
    for name in referenced:
        assert schemas[name].get("examples"), f"{name} has no example"


def test_every_path_parameter_has_an_example(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        for parameter in op.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter.get("examples") or parameter.get("example"), f"{method} {path}"


def _surface(spec: dict[str, Any]) -> dict[str, Any]:
    """What callers rely on of each operation: its id, method, path, parameters, body, answers, security."""
    return {
        op["operationId"]: {
            "method": method.upper(),
            "path": path,
            "parameters": sorted(
                [p["in"], p["name"], p.get("required", False)] for p in op.get("parameters", [])
            ),
            "body": op.get("requestBody", {})
            .get("content", {})
            .get("application/json", {})
            .get("schema", {})
            .get("$ref"),
            "responses": sorted(op["responses"]),
            "security": bool(op.get("security")),
        }
        for method, path, op in _operations(spec)
    }


def test_the_operations_are_the_recorded_surface(spec: dict[str, Any]) -> None:
    """A change of an operation's id, parameters, body or answers is deliberate: update the record too."""
    recorded = json.loads((Path(__file__).parent / "openapi_surface.json").read_text())
    assert _surface(spec) == recorded
