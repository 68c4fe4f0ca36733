"""The REST routes over service requests, all for technicians: whole items carry customers' phone numbers."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response, status

from service.core.errors import (
    AlreadyExists,
    IdempotencyKeyReused,
    InvalidCursor,
    NotATechnician,
    NotFound,
    PreconditionFailed,
    Unauthorized,
)
from service.core.models import (
    ServiceRequest,
    ServiceRequestCreate,
    ServiceRequestPage,
    ServiceRequestUpdate,
    StatusText,
    item_keys,
    plate_keys,
)
from service.http.deps import (
    IdempotencyKeyDep,
    IdPath,
    IfMatchDep,
    PlatePath,
    TechnicianDep,
    etag,
    repository,
    require_technician,
    submissions,
)
from service.http.responses import error_responses

Limit = Annotated[int, Query(ge=1, le=1000, description="Most items on this page.")]
Cursor = Annotated[
    str | None,
    Query(description="`next_cursor` of the previous page; leave out for the first page."),
]


router = APIRouter(
    tags=["service requests"],
    dependencies=[Depends(require_technician)],
    responses=error_responses(Unauthorized, NotATechnician),
)


@router.post(
    "/requests",
    status_code=status.HTTP_201_CREATED,
    summary="Create a service request",
    response_description="The stored request; `Location` is its URL",
    responses=error_responses(AlreadyExists, IdempotencyKeyReused),
)
async def create_request(
    new: ServiceRequestCreate,
    request: Request,
    response: Response,
    key: IdempotencyKeyDep,
    technician: TechnicianDep,
) -> ServiceRequest:
    creates = await submissions(request)
    created, replayed = await creates.create(new, by=technician, idempotency=key)
    response.headers["ETag"] = etag(created)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    # url_for puts path parameters in as they are: percent-encoded, a plate is one segment whatever it holds
    # ('/', '?', '#', '%', spaces); one of dots only, which an address reads as a step, is never stored.
    response.headers["Location"] = str(
        request.url_for(
            "get_request",
            license_plate=quote(created.license_plate, safe=""),
            service_id=quote(created.service_id, safe=""),
        )
    )
    return created


@router.get(
    "/requests/active",
    summary="List the active service requests",
    responses=error_responses(InvalidCursor),
)
async def list_active(request: Request, cursor: Cursor = None, limit: Limit = 100) -> ServiceRequestPage:
    """Every request whose status is not New Request, Completed or Service Rejected, ordered by status in
    workflow order, then license plate."""
    repo = await repository(request)
    return await repo.list_active(limit=limit, cursor=cursor)


@router.get(
    "/requests",
    summary="List the service requests with one status",
    responses=error_responses(InvalidCursor),
)
async def list_by_status(
    request: Request,
    status: Annotated[
        StatusText,
        Query(description="Exact status, e.g. `Accepted`.", openapi_examples={"lab": {"value": "Accepted"}}),
    ],
    cursor: Cursor = None,
    limit: Limit = 100,
) -> ServiceRequestPage:
    repo = await repository(request)
    return await repo.list_by_status(status, limit=limit, cursor=cursor)


@router.get(
    "/requests/{license_plate:text}/{service_id}",
    name="get_request",
    summary="Read one service request",
    response_model=ServiceRequest,
    responses=error_responses(NotFound),
)
async def get_request(license_plate: PlatePath, service_id: IdPath, request: Request) -> Response:
    repo = await repository(request)
    item = await repo.get(item_keys(license_plate, service_id))
    # The JSON FastAPI would write of the response model, without its checking once more that the model
    # the repository built is one: the most asked route's answer, for a few percent of its own work.
    return Response(item.model_dump_json(), media_type="application/json", headers={"ETag": etag(item)})


@router.patch(
    "/requests/{license_plate:text}/{service_id}",
    summary="Change a service request's phone number, description or status",
    responses=error_responses(NotFound, PreconditionFailed),
)
async def update_request(
    license_plate: PlatePath,
    service_id: IdPath,
    changes: ServiceRequestUpdate,
    request: Request,
    versions: IfMatchDep,
    response: Response,
    technician: TechnicianDep,
) -> ServiceRequest:
    """One atomic update of the fields given; other attributes stay as they are. A new status is
    appended to `status_history` in the same write; setting it to Completed stamps `completion_date`.
    With `If-Match`, only while the request is still at that ETag."""
    repo = await repository(request)
    item = await repo.update(
        item_keys(license_plate, service_id), changes, by=technician, if_version=versions
    )
    response.headers["ETag"] = etag(item)
    return item


@router.delete(
    "/requests/{license_plate:text}/{service_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a service request",
    responses=error_responses(NotFound, PreconditionFailed),
)
async def delete_request(
    license_plate: PlatePath, service_id: IdPath, request: Request, versions: IfMatchDep
) -> None:
    """With `If-Match`, only while the request is still at that ETag."""
    creates = await submissions(request)
    await creates.delete(item_keys(license_plate, service_id), if_version=versions)


@router.get(
    "/vehicles/{license_plate:text}/requests",
    summary="A vehicle's service history",
    responses=error_responses(InvalidCursor),
)
async def list_by_vehicle(
    license_plate: PlatePath, request: Request, cursor: Cursor = None, limit: Limit = 100
) -> ServiceRequestPage:
    repo = await repository(request)
    return await repo.list_by_vehicle(plate_keys(license_plate), limit=limit, cursor=cursor)
