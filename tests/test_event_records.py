"""Which stream records are status changes, and the message each becomes: records as the stream carries
them, no server needed."""

from __future__ import annotations

from typing import Any

import pytest

from service.events import StatusChange, UnreadableRecord, message, status_change, subject

TOPIC = "arn:aws:sns:us-east-1:123456789012:VehicleStatus"


def _image(status: str | None, version: int, *, marked: bool | None = True) -> dict[str, Any]:
    image: dict[str, Any] = {
        "license_plate": {"S": "ABC 123"},
        "service_id": {"S": "1"},
        "phone_number": {"S": "208-444-5555"},
        "updated_at": {"S": f"2026-11-26T15:0{version}:00.000Z"},
        "version": {"N": str(version)},
    }
    if status is not None:
        image["service_status"] = {"S": status}
        image["status_history"] = {
            "L": [{"M": {"status": {"S": status}, "at": {"S": "then"}, "by": {"S": "tech-sub"}}}]
        }
    if marked is not None:
        image["status_changed"] = {"BOOL": marked}
    return image


def _record(event: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "SequenceNumber": "4421584500000000017450439091",
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        data["NewImage"] = new
    if old is not None:
        data["OldImage"] = old
    return {"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": data}


def test_a_creation_is_a_change_from_no_status() -> None:
    change = status_change(_record("INSERT", _image("New Request", 1)))
    assert change == StatusChange(
        event_id="ABC%20123/1/1",
        service_status="New Request",
        previous_status=None,
        license_plate="ABC 123",
        service_id="1",
        version=1,
        changed_at="2026-11-26T15:01:00.000Z",
        changed_by="tech-sub",
    )


def test_a_status_change_names_the_status_before() -> None:
    change = status_change(_record("MODIFY", _image("Completed", 4), _image("Accepted", 3)))
    assert change is not None
    assert (change.previous_status, change.service_status, change.event_id) == (
        "Accepted",
        "Completed",
        "ABC%20123/1/4",
    )


@pytest.mark.parametrize(
    "record",
    [
        _record("MODIFY", _image("Accepted", 4, marked=False), _image("Accepted", 3)),
        # Written elsewhere (the console): no mark, whatever changed.
        _record("INSERT", _image("Accepted", 1, marked=None)),
        _record("MODIFY", _image("Completed", 4, marked=None), _image("Accepted", 3)),
        # Writes elsewhere to an item whose last write here changed its status: the mark stays, the
        # version too.
        _record("MODIFY", _image("Accepted", 3), _image("Accepted", 3)),
        _record("MODIFY", _image("Completed", 3), _image("Accepted", 3)),
        _record("INSERT", _image(None, 1)),
        _record("REMOVE", None, _image("Accepted", 3)),
    ],
    ids=[
        "edit",
        "console insert",
        "console change",
        "console edit",
        "console change after",
        "no status",
        "removal",
    ],
)
def test_other_writes_are_no_events(record: dict[str, Any]) -> None:
    assert status_change(record) is None


@pytest.mark.parametrize(
    "record",
    [_record("INSERT", None), _record("MODIFY", _image("Completed", 4)), _record("TTL", None)],
    ids=["keys only", "new image only", "unknown event"],
)
def test_a_record_without_both_images_is_unreadable(record: dict[str, Any]) -> None:
    with pytest.raises(UnreadableRecord):
        status_change(record)


def test_the_message_is_what_the_labs_consumers_and_filter_read() -> None:
    change = status_change(_record("MODIFY", _image("Completed", 4), _image("Accepted", 3)))
    assert change is not None
    publish = message(TOPIC, change)
    assert publish["TopicArn"] == TOPIC
    assert publish["Subject"] == "1"
    assert publish["MessageAttributes"]["service_status"] == {
        "DataType": "String",
        "StringValue": "Completed",
    }
    assert StatusChange.model_validate_json(publish["Message"]) == change


@pytest.mark.parametrize(
    ("service_id", "expected"),
    [
        ("01JD8Y6V2ZK4M7Q9R3T5W8X0AB", "01JD8Y6V2ZK4M7Q9R3T5W8X0AB"),
        (" 7\n", "7"),
        ("é", "service request"),
        ("x" * 150, "x" * 99),
    ],
)
def test_subjects_are_what_sns_takes(service_id: str, expected: str) -> None:
    assert subject(service_id) == expected
