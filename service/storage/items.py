"""Items of the VehicleServices table and the service's models: an item read as a ServiceRequest (as stored,
or as the table's stream carries it), and a new request written as an item. The repository and the events
both read items through here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeAlias

from service.core.models import (
    ServiceRequest,
    ServiceRequestCreate,
    Status,
    StatusHistoryEntry,
    history_entry,
    timestamp,
)
from service.storage.tables import HISTORY, STATUS_CHANGED

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

Item: TypeAlias = "Mapping[str, AttributeValueTypeDef]"

_TEXT_FIELDS = (
    "phone_number",
    "service_description",
    "service_status",
    "completion_date",
    "created_at",
    "updated_at",
)


def text(value: AttributeValueTypeDef | None) -> str | None:
    # Items typed in the AWS console may hold a number where the lab used a string; read both.
    if value is None:
        return None
    if "S" in value:
        return value["S"]
    if "N" in value:
        return value["N"]
    return None


def version(value: AttributeValueTypeDef | None) -> int | None:
    digits = text(value)
    try:
        return int(digits) if digits is not None else None
    except ValueError:
        return None


def _status_history(value: AttributeValueTypeDef | None) -> list[StatusHistoryEntry] | None:
    # Entries that are not whole (an item edited by hand) are left out rather than failing the read.
    if value is None or "L" not in value:
        return None
    entries = []
    for element in value["L"]:
        fields = element.get("M", {})
        status, at, by = (text(fields.get(name)) for name in ("status", "at", "by"))
        if status is not None and at is not None and by is not None:
            entries.append(StatusHistoryEntry(status=status, at=at, by=by))
    return entries


def history_value(entry: StatusHistoryEntry) -> AttributeValueTypeDef:
    return {"M": {name: {"S": text} for name, text in entry.model_dump().items()}}


def history_length(item: Item) -> int:
    return len(item.get(HISTORY, {}).get("L", []))


def to_model(item: Item) -> ServiceRequest:
    """The request an item holds (as stored, or as the table's stream carries it)."""
    return ServiceRequest(
        license_plate=text(item["license_plate"]) or "",
        service_id=text(item["service_id"]) or "",
        version=version(item.get("version")),
        status_history=_status_history(item.get(HISTORY)),
        **{name: text(item.get(name)) for name in _TEXT_FIELDS},
    )


def item_key(license_plate: str, service_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"license_plate": {"S": license_plate}, "service_id": {"S": service_id}}


def new_item(new: ServiceRequestCreate, service_id: str, by: str) -> dict[str, AttributeValueTypeDef]:
    """The item a new request is stored as: version 1, its status history started by `by`."""
    now = timestamp()
    item: dict[str, AttributeValueTypeDef] = {
        **item_key(new.license_plate, service_id),
        "phone_number": {"S": new.phone_number},
        "service_description": {"S": new.service_description},
        "service_status": {"S": new.service_status.value},
        "created_at": {"S": now},
        "updated_at": {"S": now},
        "version": {"N": "1"},
        HISTORY: {"L": [history_value(history_entry(new.service_status, now, by))]},
        STATUS_CHANGED: {"BOOL": True},
    }
    if new.service_status is Status.COMPLETED:
        item["completion_date"] = {"S": now}

    return item
