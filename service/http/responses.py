"""Errors as HTTP answers: one JSON shape for the app's handlers and the middlewares, and the entries that
document them in the API document."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic.json_schema import models_json_schema
from starlette.responses import JSONResponse

from service.core.errors import BackendUnavailable, ErrorBody, ServiceError, ValidationFailed


def error_response(error: ServiceError) -> JSONResponse:
    """The answer to `error`: its status, its headers, the error body. No cache keeps a refusal: some are
    answered before the route, technicians' or public, is known (an origin not granted, a body too large),
    and an unhandled error's 500 after the middleware that marks the technicians' answers."""
    headers = {"Cache-Control": "no-store", **error.headers}
    return JSONResponse(error.body().model_dump(mode="json"), status_code=error.status_code, headers=headers)


_SCHEMAS = "#/components/schemas/"
# Error responses refer to the error body's schema rather than naming its model: FastAPI would build a
# validator and a serialiser of the model for every status of every route, only to write the API document.
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": f"{_SCHEMAS}{ErrorBody.__name__}"}}}


def error_responses(*errors: type[ServiceError], takes_input: bool = True) -> dict[int | str, dict[str, Any]]:
    """The API document's entries for the errors a route may answer: `errors`, an unavailable DynamoDB
    and, for a route that `takes_input`, invalid input. Errors that share a status share its entry."""
    descriptions: dict[int, list[str]] = defaultdict(list)
    always = (ValidationFailed, BackendUnavailable) if takes_input else (BackendUnavailable,)
    for error in (*errors, *always):
        if error.description not in descriptions[error.status_code]:
            descriptions[error.status_code].append(error.description)
    return {
        status: {"description": "; or ".join(texts), "content": _ERROR_CONTENT}
        for status, texts in sorted(descriptions.items())
    }


def error_schemas() -> dict[str, Any]:
    """The error body's schemas, as the API document's components that error_responses refers to."""
    _, schemas = models_json_schema([(ErrorBody, "serialization")], ref_template=f"{_SCHEMAS}{{model}}")
    definitions: dict[str, Any] = schemas["$defs"]
    return definitions
