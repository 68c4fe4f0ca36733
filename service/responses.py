"""Errors as HTTP answers: one JSON shape for the app's handlers and the middlewares, and the entries that
document them in the API document."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from starlette.responses import JSONResponse

from service.errors import BackendUnavailable, ErrorBody, ServiceError, ValidationFailed


def error_response(error: ServiceError) -> JSONResponse:
    """The answer to `error`: its status, its headers, the error body."""
    return JSONResponse(
        error.body().model_dump(mode="json"), status_code=error.status_code, headers=error.headers
    )


def error_responses(*errors: type[ServiceError], takes_input: bool = True) -> dict[int | str, dict[str, Any]]:
    """The API document's entries for the errors a route may answer: `errors`, an unavailable DynamoDB
    and, for a route that `takes_input`, invalid input. Errors that share a status share its entry."""
    descriptions: dict[int, list[str]] = defaultdict(list)
    always = (ValidationFailed, BackendUnavailable) if takes_input else (BackendUnavailable,)
    for error in (*errors, *always):
        if error.description not in descriptions[error.status_code]:
            descriptions[error.status_code].append(error.description)
    return {
        status: {"model": ErrorBody, "description": "; or ".join(texts)}
        for status, texts in sorted(descriptions.items())
    }
