"""The REST routes over service requests, and the health probes."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from service.deps import (
    IdempotencyKeyDep,
    IfMatchDep,
    RepoDep,
    error_responses,
    etag,
    require_technician,
)
from service.dynamo import Backend
from service.errors import BackendUnavailable
from service.models import (
    ErrorBody,
    Health,
    KeyText,
    ServiceRequest,
    ServiceRequestCreate,
    ServiceRequestPage,
    ServiceRequestUpdate,
    StatusText,
    item_keys,
    plate_keys,
)

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
Limit = Annotated[int, Query(ge=1, le=1000, description="Most items on this page.")]
Cursor = Annotated[
    str | None,
    Query(description="`next_cursor` of the previous page; leave out for the first page."),
]


# Whole items carry customers' phone numbers: every route here is for technicians.
requests_router = APIRouter(
    tags=["service requests"],
    dependencies=[Depends(require_technician)],
    responses=error_responses(401),
)
health_router = APIRouter(tags=["health"])


@requests_router.post(
    "/requests",
    status_code=status.HTTP_201_CREATED,
    summary="Create a service request",
    response_description="The stored request; `Location` is its URL",
    responses=error_responses(409),
)
async def create_request(
    new: ServiceRequestCreate,
    repo: RepoDep,
    request: Request,
    response: Response,
    key: IdempotencyKeyDep,
) -> ServiceRequest:
    created, replayed = await repo.create(new, idempotency_key=key, scope="requests")
    response.headers["ETag"] = etag(created)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    # url_for puts path parameters in as they are; quoting them keeps plates with spaces a valid URL.
    response.headers["Location"] = str(
        request.url_for(
            "get_request",
            license_plate=quote(created.license_plate, safe=""),
            service_id=quote(created.service_id, safe=""),
        )
    )
    return created


@requests_router.get(
    "/requests/active",
    summary="List the active service requests",
    description="Every request whose status is not New Request, Completed or Service Rejected, "
    "ordered by status in workflow order, then license plate.",
    responses=error_responses(400),
)
async def list_active(repo: RepoDep, cursor: Cursor = None, limit: Limit = 100) -> ServiceRequestPage:
    return await repo.list_active(limit=limit, cursor=cursor)


@requests_router.get(
    "/requests",
    summary="List the service requests with one status",
    responses=error_responses(400),
)
async def list_by_status(
    repo: RepoDep,
    status: Annotated[
        StatusText,
        Query(description="Exact status, e.g. `Accepted`.", openapi_examples={"lab": {"value": "Accepted"}}),
    ],
    cursor: Cursor = None,
    limit: Limit = 100,
) -> ServiceRequestPage:
    return await repo.list_by_status(status, limit=limit, cursor=cursor)


@requests_router.get(
    "/requests/{license_plate:text}/{service_id}",
    name="get_request",
    summary="Read one service request",
    responses=error_responses(404),
)
async def get_request(
    license_plate: PlatePath, service_id: IdPath, repo: RepoDep, response: Response
) -> ServiceRequest:
    item = await repo.get(item_keys(license_plate, service_id))
    response.headers["ETag"] = etag(item)
    return item


@requests_router.patch(
    "/requests/{license_plate:text}/{service_id}",
    summary="Change a service request's phone number, description or status",
    description="One atomic update of the fields given; other attributes stay as they are. "
    "Setting the status to Completed stamps `completion_date`. With `If-Match`, only while the "
    "request is still at that ETag.",
    responses=error_responses(404, 412),
)
async def update_request(
    license_plate: PlatePath,
    service_id: IdPath,
    changes: ServiceRequestUpdate,
    repo: RepoDep,
    versions: IfMatchDep,
    response: Response,
) -> ServiceRequest:
    item = await repo.update(item_keys(license_plate, service_id), changes, if_version=versions)
    response.headers["ETag"] = etag(item)
    return item


@requests_router.delete(
    "/requests/{license_plate:text}/{service_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a service request",
    description="With `If-Match`, only while the request is still at that ETag.",
    responses=error_responses(404, 412),
)
async def delete_request(
    license_plate: PlatePath, service_id: IdPath, repo: RepoDep, versions: IfMatchDep
) -> None:
    await repo.delete(item_keys(license_plate, service_id), if_version=versions)


@requests_router.get(
    "/vehicles/{license_plate:text}/requests",
    summary="A vehicle's service history",
    responses=error_responses(400),
)
async def list_by_vehicle(
    license_plate: PlatePath, repo: RepoDep, cursor: Cursor = None, limit: Limit = 100
) -> ServiceRequestPage:
    return await repo.list_by_vehicle(plate_keys(license_plate), limit=limit, cursor=cursor)


@health_router.get("/healthz", summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@health_router.get(
    "/readyz",
    summary="The table answers",
    responses={503: {"model": ErrorBody, "description": "The table cannot be reached"}},
)
async def readyz(request: Request) -> Health:
    backend: Backend = request.app.state.backend
    try:
        repo = await backend.repository()
    except Exception as exc:
        raise BackendUnavailable("DynamoDB client cannot be created") from exc
    await repo.ping()
    return Health(status="ready")
