"""FastAPI dependencies shared by the routers: the repository and the technician check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.auth import Authenticator, Claims
from service.dynamo import Backend
from service.models import ErrorBody
from service.repository import Repository

# Documents the scheme in OpenAPI (Swagger's "Authorize" button); the check itself is the authenticator's.
_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A Cognito user pool ID token of a technician.",
)


async def get_repository(request: Request) -> Repository:
    backend: Backend = request.app.state.backend
    return await backend.repository()


async def require_technician(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Claims:
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.authenticate(request)


RepoDep = Annotated[Repository, Depends(get_repository)]
TechnicianDep = Annotated[Claims, Depends(require_technician)]

ERROR_DESCRIPTIONS = {
    400: "Malformed cursor",
    401: "No valid technician token; see `WWW-Authenticate`",
    404: "No such service request",
    409: "A service request with that key exists already",
    422: "Invalid input; `fields` names each offending field",
    503: "DynamoDB is unavailable; retry after `Retry-After` seconds",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors a route may answer (422 and 503 are always possible)."""
    return {
        code: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[code]} for code in (*codes, 422, 503)
    }
