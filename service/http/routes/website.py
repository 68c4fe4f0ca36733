"""The routes the shop's website calls, with the shapes it reads (see the website's contract)."""

from __future__ import annotations

import html
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, TypeAdapter, model_validator

from service.core.cache import RecentValue
from service.core.errors import (
    IdempotencyKeyReused,
    NotATechnician,
    NotFound,
    PreconditionFailed,
    RequestInProgress,
    TooManyRequests,
    Unauthorized,
)
from service.core.models import (
    ACTIVE_STATUSES,
    OPEN_STATUSES,
    PUBLIC_ACTOR,
    Description,
    KeyText,
    LicensePlate,
    PhoneNumber,
    ServiceRequest,
    ServiceRequestCreate,
    ServiceRequestUpdate,
    item_keys,
    phone_tail,
    plate_keys,
)
from service.http.caller import Caller, public_caller
from service.http.deps import (
    IdempotencyHeaderDep,
    IdPath,
    IfMatchDep,
    PlatePath,
    TechnicianDep,
    repository,
    require_technician,
    scoped_key,
    submissions,
)
from service.http.responses import error_responses
from service.storage.idempotency import IdempotencyKey
from service.storage.repository import Repository

# The public page's routes: the list and the request form, open to every origin.
PUBLIC_PATH: Final = "/service-request"
CREATED: Final = "Successfully added new service request"
UPDATED: Final = "Successfully updated service request"
# What the course's backend answered, with 200, when the request to update did not exist: the page shows
# only 2xx answers.
NO_RECORD: Final = "No record found"

_PUBLIC_FIELDS = ("service_id", "service_status", "phone_number")


class PublicRequest(BaseModel):
    """What the public page may know of a request: nothing that identifies the customer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"service_id": "1", "service_status": "Being Serviced", "phone_number": "5555"}]
        }
    )

    service_id: str
    service_status: str
    phone_number: str


class WebsiteCreate(BaseModel):
    """The request form's body. Fields the website may add later are ignored, not refused."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "service_description": "Oil Change on a 2007 Saturn Outlook",
                    "phone_number": "208-444-5555",
                    "license_plate": "8B1111",
                }
            ]
        },
    )

    service_description: Description
    phone_number: PhoneNumber
    license_plate: LicensePlate


class WebsiteUpdate(ServiceRequestUpdate):
    """The admin page's change: the vehicle, and the fields to change. Fields the website may add later
    are ignored, not refused."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"license_plate": "8B1111", "service_status": "Completed"}]},
    )

    license_plate: KeyText

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        # The page's nulls mean "no change": they are left out, not refused.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None or k not in cls.CHANGEABLE}
        return data


_PUBLIC_LIST = TypeAdapter(list[PublicRequest])


async def _public_caller(request: Request) -> Caller:
    """Who sends the public form: a technician, or an anonymous caller whose address its limit counts
    (FastAPI resolves this once per request, for the route and its Idempotency-Key alike)."""
    return await public_caller(request, request.app.state.authenticator)


PublicCallerDep = Annotated[Caller, Depends(_public_caller)]


async def _public_idempotency_key(
    request: Request, value: IdempotencyHeaderDep, caller: PublicCallerDep
) -> IdempotencyKey | None:
    return scoped_key(request, value, caller)


PublicIdempotencyKeyDep = Annotated[IdempotencyKey | None, Depends(_public_idempotency_key)]


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, list):
        return [_escaped(element) for element in value]
    if isinstance(value, dict):
        return {name: _escaped(element) for name, element in value.items()}
    return value


def _html_safe(item: ServiceRequest) -> ServiceRequest:
    # The website puts these values into its page with innerHTML. What people type is stored as typed,
    # markup characters included; escaped, it displays as typed and can never become an element.
    return ServiceRequest.model_validate(_escaped(item.model_dump(exclude_none=True)))


router = APIRouter(tags=["website"])
admin = APIRouter(
    prefix="/admin-service-request",
    tags=["website (technicians)"],
    dependencies=[Depends(require_technician)],
    responses=error_responses(Unauthorized, NotATechnician),
)


@router.get(
    PUBLIC_PATH,
    summary="The public list of active requests",
    response_model=list[PublicRequest],
    responses=error_responses(),
)
async def public_requests(request: Request) -> Response:
    """Every active request (as `GET /requests/active`, all of it), with only its id, its status and the
    last four digits of the customer's phone number; read at most `PUBLIC_LIST_CACHE_SECONDS` ago."""
    repo = await repository(request)
    # Made by create_app: one per app, so per instance (a Lambda container keeps its app).
    cache: RecentValue[bytes] = request.app.state.public_list
    return Response(await cache.get(lambda: _read_public_list(repo)), media_type="application/json")


async def _read_public_list(repo: Repository) -> bytes:
    items = await repo.all_with_status([s.value for s in ACTIVE_STATUSES], fields=_PUBLIC_FIELDS)
    return _PUBLIC_LIST.dump_json(
        [
            PublicRequest(
                service_id=html.escape(item.service_id),
                service_status=html.escape(item.service_status or ""),
                phone_number=phone_tail(item.phone_number),
            )
            for item in items
        ]
    )


@router.post(
    PUBLIC_PATH,
    status_code=status.HTTP_201_CREATED,
    summary="Request a service (the public form)",
    response_description="The message the website shows",
    responses=error_responses(RequestInProgress, IdempotencyKeyReused, TooManyRequests),
)
async def request_service(
    new: WebsiteCreate, request: Request, key: PublicIdempotencyKeyDep, caller: PublicCallerDep
) -> str:
    """The same form (plate, phone number and description) sent again within `DUPLICATE_WINDOW_SECONDS`,
    while the request it stored is still open, is one request, and every repeat is answered like the
    first; once that request is deleted, Completed or Service Rejected, the form is a new request.
    Anonymous callers may send `PUBLIC_CREATE_LIMIT` forms per `PUBLIC_CREATE_WINDOW_SECONDS` from one
    address, then get `429`."""
    creates = await submissions(request)
    await creates.create(
        ServiceRequestCreate(**new.model_dump()),
        by=PUBLIC_ACTOR,
        idempotency=key,
        once_per_form=True,
        counted=caller.address,
    )
    return CREATED


@admin.get("", summary="Every request not Completed and not Service Rejected", responses=error_responses())
async def open_requests(request: Request) -> list[ServiceRequest]:
    repo = await repository(request)
    return [_html_safe(item) for item in await repo.all_with_status([s.value for s in OPEN_STATUSES])]


@admin.put(
    "/{service_id}",
    summary="Change a request's status (or phone number, description)",
    response_description="The message the website shows",
    responses=error_responses(PreconditionFailed),
)
async def update_request(
    service_id: IdPath,
    change: Annotated[WebsiteUpdate, Body()],
    request: Request,
    versions: IfMatchDep,
    technician: TechnicianDep,
) -> str:
    """One conditional UpdateItem, never an upsert; a new status is appended to `status_history` in
    the same write, and setting Completed stamps `completion_date`. A request that does not exist is
    answered `200` with `"No record found"`, which the page shows."""
    repo = await repository(request)
    try:
        # The page sends back the plate and id as the lists gave them: HTML-escaped.
        await repo.update(
            item_keys(change.license_plate, service_id, unescape=True),
            change,
            by=technician,
            if_version=versions,
        )
    except NotFound:
        return NO_RECORD
    return UPDATED


@admin.get(
    "/vehicle-history/{license_plate:text}",
    summary="A vehicle's whole service history",
    responses=error_responses(),
)
async def vehicle_history(license_plate: PlatePath, request: Request) -> list[ServiceRequest]:
    repo = await repository(request)
    return [_html_safe(item) for item in await repo.vehicle_history(plate_keys(license_plate, unescape=True))]
