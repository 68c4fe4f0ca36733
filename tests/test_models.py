"""Validation of what callers write: trimmed, bounded, no control characters, known statuses only."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from service.models import ACTIVE_STATUSES, ServiceRequestCreate, ServiceRequestUpdate, Status
from tests.helpers import new_request


def _error_fields(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in error["loc"]) for error in exc.errors()]


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("license_plate", " 8B1111 ", "8B1111"),
        ("license_plate", "ABC-123", "ABC-123"),
        ("license_plate", "abc 123", "abc 123"),
        ("phone_number", "+1 (208) 444-5555", "+1 (208) 444-5555"),
        ("phone_number", "208.444.5555", "208.444.5555"),
        ("service_description", "Line one\nLine two\twith a tab", "Line one\nLine two\twith a tab"),
        ("service_description", "  Brakes for a 08 Mazda 3  ", "Brakes for a 08 Mazda 3"),
        ("service_id", "2", "2"),
        ("service_id", "job_2026-11.a", "job_2026-11.a"),
        ("service_status", " Completed ", Status.COMPLETED),
    ],
)
def test_valid_values_are_kept_trimmed(field: str, value: str, stored: str) -> None:
    assert getattr(ServiceRequestCreate.model_validate(new_request(**{field: value})), field) == stored


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("license_plate", "8B  1111"),
        ("license_plate", "8B_1111"),
        ("license_plate", "-8B1111"),
        ("license_plate", "8B\n1111"),
        ("license_plate", "<img src=x>"),
        ("phone_number", "208-444-555x"),
        ("phone_number", "12345"),
        ("phone_number", "1234567890123456"),
        ("phone_number", "<b>2084445555</b>"),
        ("service_description", "\x00"),
        ("service_description", "escape \x1b[31m"),
        ("service_description", "next\u0085line"),
        ("service_id", ".hidden"),
        ("service_id", "a/b"),
        ("service_status", "completed"),
        ("service_status", "Completed!"),
    ],
)
def test_invalid_values_are_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceRequestCreate.model_validate(new_request(**{field: value}))
    assert _error_fields(caught.value) == [field]


@pytest.mark.parametrize(
    ("field", "longest", "too_long"),
    [
        ("license_plate", "A" * 16, "A" * 17),
        ("phone_number", "2" * 15, "2" * 16),
        ("phone_number", "+1 (208) 444 -  5555 - 12", "+1 (208) 444 -   5555 - 12"),
        ("service_description", "d" * 1000, "d" * 1001),
        ("service_id", "i" * 64, "i" * 65),
    ],
)
def test_lengths_are_bounded(field: str, longest: str, too_long: str) -> None:
    assert getattr(ServiceRequestCreate.model_validate(new_request(**{field: longest})), field) == longest
    with pytest.raises(ValidationError) as caught:
        ServiceRequestCreate.model_validate(new_request(**{field: too_long}))
    assert _error_fields(caught.value) == [field]


def test_status_defaults_to_new_request() -> None:
    assert ServiceRequestCreate.model_validate(new_request()).service_status is Status.NEW_REQUEST


def test_the_nine_statuses_are_the_websites_in_workflow_order() -> None:
    assert [s.value for s in Status] == [
        "New Request",
        "Quoted - Waiting for Approval",
        "Accepted",
        "Approved - Bring Vehicle In",
        "Waiting for Parts",
        "Being Serviced",
        "Complete. Pick up Vehicle",
        "Completed",
        "Service Rejected",
    ]
    assert Status.NEW_REQUEST not in ACTIVE_STATUSES
    assert Status.COMPLETED not in ACTIVE_STATUSES
    assert Status.REJECTED not in ACTIVE_STATUSES
    assert len(ACTIVE_STATUSES) == 6


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, [""]),
        ({"service_status": None}, [""]),
        ({"phone_number": "nope"}, ["phone_number"]),
        ({"license_plate": "X1"}, ["license_plate"]),
    ],
)
def test_update_needs_something_valid_to_change(body: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceRequestUpdate.model_validate(body)
    assert _error_fields(caught.value) == fields


def test_update_remembers_which_fields_were_given() -> None:
    update = ServiceRequestUpdate.model_validate({"service_status": "Completed"})
    assert update.model_fields_set == {"service_status"}
    assert update.service_status is Status.COMPLETED
