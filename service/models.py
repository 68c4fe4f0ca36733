"""The service's own data types: service requests as stored, what callers may write, and list pages."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)


class Status(StrEnum):
    """The statuses the shop's website knows, in workflow order."""

    NEW_REQUEST = "New Request"
    QUOTED = "Quoted - Waiting for Approval"
    ACCEPTED = "Accepted"
    APPROVED = "Approved - Bring Vehicle In"
    WAITING_FOR_PARTS = "Waiting for Parts"
    BEING_SERVICED = "Being Serviced"
    READY_FOR_PICKUP = "Complete. Pick up Vehicle"
    COMPLETED = "Completed"
    REJECTED = "Service Rejected"


# What the original getServiceRequest Lambda listed: everything but new, finished and rejected work.
ACTIVE_STATUSES: tuple[Status, ...] = tuple(
    s for s in Status if s not in {Status.NEW_REQUEST, Status.COMPLETED, Status.REJECTED}
)

_PLATE = re.compile(r"[A-Za-z0-9]+(?:[ -][A-Za-z0-9]+)*")
_SERVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PHONE = re.compile(r"\+?[0-9 ().-]+")
_ALLOWED_CONTROLS = {"\n", "\t"}


def _license_plate(value: str) -> str:
    if not _PLATE.fullmatch(value):
        raise ValueError(
            "a license plate holds only letters and digits, separated by single spaces or hyphens"
        )
    return value


def _service_id(value: str) -> str:
    if not _SERVICE_ID.fullmatch(value):
        raise ValueError(
            "a service id holds only letters, digits, '.', '_' and '-' and starts with one of the first two"
        )
    return value


def _phone_number(value: str) -> str:
    digits = sum(c.isdigit() for c in value)
    if not _PHONE.fullmatch(value) or not 7 <= digits <= 15:
        raise ValueError(
            "a phone number has 7 to 15 digits and only '+', spaces, '(', ')', '.' or '-' besides"
        )
    return value


def _printable(value: str) -> str:
    if any(unicodedata.category(c) in {"Cc", "Cs"} and c not in _ALLOWED_CONTROLS for c in value):
        raise ValueError("control characters are not allowed")
    # The website, and the lab's own Lambda behind it, put this text into the page as HTML.
    if "<" in value or ">" in value:
        raise ValueError("'<' and '>' are not allowed: the website shows this text as HTML")
    return value


def _key_text(value: str) -> str:
    # Keys read back items written elsewhere (the AWS console, the lab's Node code), so they are not
    # held to the write patterns; they only have to be something DynamoDB could have stored.
    if value != value.strip() or any(unicodedata.category(c) in {"Cc", "Cs"} for c in value):
        raise ValueError("no surrounding whitespace or control characters")
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _stripped(max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


LicensePlate = Annotated[str, _stripped(16), AfterValidator(_license_plate)]
ServiceId = Annotated[str, _stripped(64), AfterValidator(_service_id)]
PhoneNumber = Annotated[str, _stripped(25), AfterValidator(_phone_number)]
Description = Annotated[str, _stripped(1000), AfterValidator(_printable)]
StatusValue = Annotated[Status, BeforeValidator(_strip)]
# A key taken from a URL path: any text DynamoDB could hold, up to a length a path may sensibly carry.
KeyText = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_key_text)]
# A status to look up: anything, since items written elsewhere may carry statuses the website lacks.
StatusText = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_key_text)]

LAB_EXAMPLE = {
    "license_plate": "8B1111",
    "phone_number": "208-444-5555",
    "service_description": "Oil Change on a 2007 Saturn Outlook",
    "service_status": "Being Serviced",
}


def _absent_when_none(description: str | None = None) -> Any:
    # An attribute the item lacks is left out of the JSON, as DynamoDB leaves it out of the item.
    return Field(default=None, exclude_if=lambda value: value is None, description=description)


class ServiceRequest(BaseModel):
    """A service request as stored. Every attribute but the key may be missing in items written elsewhere."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **LAB_EXAMPLE,
                    "service_id": "01JD8Y6V2ZK4M7Q9R3T5W8X0AB",
                    "created_at": "2026-11-26T15:04:05.123Z",
                    "updated_at": "2026-11-26T15:04:05.123Z",
                    "version": 1,
                }
            ]
        }
    )

    license_plate: str
    service_id: str
    phone_number: str | None = _absent_when_none()
    service_description: str | None = _absent_when_none()
    service_status: str | None = _absent_when_none()
    completion_date: str | None = _absent_when_none("Set while the status is Completed: when it became so.")
    created_at: str | None = _absent_when_none()
    updated_at: str | None = _absent_when_none()
    version: int | None = _absent_when_none("Counts the writes to this request.")


class ServiceRequestCreate(BaseModel):
    """A new service request. `service_id` is generated unless given; the status defaults to New Request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{k: v for k, v in LAB_EXAMPLE.items() if k != "service_status"}]},
    )

    license_plate: LicensePlate
    phone_number: PhoneNumber
    service_description: Description
    service_status: StatusValue = Status.NEW_REQUEST
    service_id: ServiceId | None = None


class ServiceRequestUpdate(BaseModel):
    """A partial update: only the fields given change; at least one must be given."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"service_status": "Completed"}]},
    )

    phone_number: PhoneNumber | None = None
    service_description: Description | None = None
    service_status: StatusValue | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(k for k, v in data.items() if v is None and k in cls.model_fields)
            if nulls:
                raise ValueError(f"{', '.join(nulls)} may not be null; leave a field out to keep it")
        return data

    @model_validator(mode="after")
    def _something_to_change(self) -> ServiceRequestUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one of phone_number, service_description, service_status")
        return self


class ServiceRequestPage(BaseModel):
    """One page of a list; pass `next_cursor` back as `cursor` for the next page (null: no more)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [{**LAB_EXAMPLE, "service_id": "1"}],
                    "next_cursor": "eyJsaWNlbnNlX3BsYXRlIjoiOEIxMTExIn0.m2v5Jx0dA3nq0bLq3J8b3g",
                }
            ]
        }
    )

    items: list[ServiceRequest]
    next_cursor: str | None = None


class FieldError(BaseModel):
    """What is wrong with one field of a request."""

    field: str = Field(description="The field's name, dotted for nested fields.")
    location: str = Field(description="Where the field was sent: body, query, path or header.")
    message: str


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "validation_failed",
                    "message": "phone_number: Value error, a phone number has 7 to 15 digits ...",
                    "fields": [{"field": "phone_number", "location": "body", "message": "..."}],
                }
            ]
        }
    )

    code: str = Field(description="Stable machine-readable code, e.g. not_found, validation_failed.")
    message: str
    fields: list[FieldError] = Field(default_factory=list)


class Health(BaseModel):
    """A probe's answer."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str
