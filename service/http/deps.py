"""What the routes share: the repository, the technician check, path keys, If-Match and Idempotency-Key."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor
from starlette.types import Scope

from service.core.errors import PreconditionFailed
from service.core.models import KeyText, ServiceRequest
from service.http.caller import Caller
from service.identity.claims import Authenticator, Claims, subject
from service.storage.backend import Backend
from service.storage.idempotency import IdempotencyKey, caller_key
from service.storage.repository import Repository
from service.storage.submissions import Submissions

# The scheme the API document gives the technicians' routes (Swagger's "Authorize" button); the check itself
# is the authenticator's. Written into the document rather than declared as a dependency (FastAPI's
# HTTPBearer), which every request would resolve for nothing.
BEARER = "HTTPBearer"
_BEARER_SCHEME = {
    "type": "http",
    "description": "A Cognito user pool ID token of a technician.",
    "scheme": "bearer",
    "bearerFormat": "JWT",
}


async def repository(request: Request) -> Repository:
    """The app's repository, its client opened on first use. Routes call this with their request rather
    than declaring a dependency: it depends on the app alone, and FastAPI would resolve a dependency for
    every request."""
    backend: Backend = request.app.state.backend
    return await backend.repository()


async def submissions(request: Request) -> Submissions:
    """The app's creates-once (Idempotency-Key, the form's duplicate key, the per-address limit), as
    `repository` hands out the repository."""
    backend: Backend = request.app.state.backend
    return await backend.submissions()


async def require_technician(request: Request) -> Claims:
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.authenticate(request)


def is_for_technicians(route: APIRoute) -> bool:
    return any(dependency.call is require_technician for dependency in route.dependant.dependencies)


def needs_technician(scope: Scope) -> bool:
    """Whether the route the request was routed to is for technicians only: its answers, errors included,
    hold customers' phone numbers and notes, so service.http.edge.Edge marks them `Cache-Control: no-store`
    and keeps them out of every browser and proxy cache."""
    route = scope.get("route")
    return isinstance(route, APIRoute) and is_for_technicians(route)


def document_bearer(document: dict[str, Any], routes: Iterable[APIRoute]) -> None:
    """Mark the operations of the technicians' `routes` in the API `document` as needing a bearer token."""
    for route in routes:
        if is_for_technicians(route):
            for method in route.methods or ():
                document["paths"][route.path_format][method.lower()]["security"] = [{BEARER: []}]
    document.setdefault("components", {})["securitySchemes"] = {BEARER: dict(_BEARER_SCHEME)}


async def technician_sub(claims: Annotated[Claims, Depends(require_technician)]) -> str:
    """Who the technician is, as status histories name them: the subject of their token or of the
    authorizer's claims (checked once per request: FastAPI caches require_technician's answer)."""
    return subject(claims)


# One or more entity tags, or "*" (RFC 9110); what the API's ETags are made of is checked below.
_IF_MATCH = r'^\s*(\*|(W/)?"[^"]*"(\s*,\s*(W/)?"[^"]*")*)\s*$'
_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
# The versions this API issues: ASCII digits only (str.isdigit also takes '²', which int() refuses, and
# int() reads '٣' as 3), few enough to fit a DynamoDB number.
_VERSION = re.compile(r"[0-9]{1,18}")


def etag(item: ServiceRequest) -> str:
    """The entity tag of an item's current version; items written elsewhere have none yet: "0"."""
    return f'"{item.version or 0}"'


async def if_match(
    value: Annotated[
        str | None,
        Header(
            alias="If-Match",
            pattern=_IF_MATCH,
            max_length=1024,
            description="Write only if the request is still at this ETag; else 412 and nothing changes.",
        ),
    ] = None,
) -> frozenset[int] | None:
    """The versions If-Match allows (None: any)."""
    if value is None or value.strip() == "*":
        return None
    # Strong comparison: weak tags, and tags this API never issued, match no version.
    versions = frozenset(
        int(tag) for weak, tag in _ENTITY_TAG.findall(value) if not weak and _VERSION.fullmatch(tag)
    )
    if not versions:
        raise PreconditionFailed("If-Match names no version this service issued")
    return versions


async def idempotency_header(
    value: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=8,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="A unique key per intended request (e.g. a UUID): a retry with the same key and "
            "body returns the request the first call stored, instead of storing another.",
        ),
    ] = None,
) -> str | None:
    """The Idempotency-Key header as sent; `scoped_key` makes it a key."""
    return value


def scoped_key(request: Request, value: str | None, caller: Caller) -> IdempotencyKey | None:
    """The key `value` of `caller` for the route `request` was sent to: the same value on another route, or
    from another caller, is another request."""
    if value is None:
        return None
    route = request.scope["route"]
    assert isinstance(route, APIRoute)
    return caller_key(value, route.path.strip("/"), caller.name)


IdempotencyHeaderDep = Annotated[str | None, Depends(idempotency_header)]


async def technician_idempotency_key(
    request: Request, value: IdempotencyHeaderDep, claims: Annotated[Claims, Depends(require_technician)]
) -> IdempotencyKey | None:
    """The technician's Idempotency-Key, for the route it was sent to."""
    return scoped_key(request, value, Caller.technician(claims))


class _AnyText(Convertor[str]):
    """A path segment that may hold any character, '/' and line breaks included (Starlette's `path`
    stops at a line break): plates are stored as people typed them."""

    regex = "(?s:.+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# Routes name it in their paths: `/vehicles/{license_plate:text}/requests`.
register_url_convertor("text", _AnyText())

TechnicianDep = Annotated[str, Depends(technician_sub)]
IfMatchDep = Annotated[frozenset[int] | None, Depends(if_match)]
IdempotencyKeyDep = Annotated[IdempotencyKey | None, Depends(technician_idempotency_key)]
# Keys in paths are taken exactly as given, spaces included: rows written elsewhere stay reachable.
PlatePath = Annotated[
    KeyText,
    Path(
        description="The vehicle's license plate: as stored, or as typed (`abc 123` finds `ABC 123`).",
        openapi_examples={"lab": {"value": "8B1111"}},
    ),
]
IdPath = Annotated[
    KeyText, Path(description="The service request's id.", openapi_examples={"lab": {"value": "1"}})
]
