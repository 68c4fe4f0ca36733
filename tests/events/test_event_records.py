"""Which stream records are status changes, and the message each becomes: records as the stream carries
them, no server needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from service.events.failure_queue import FailedRecord
from service.events.messages import (
    MAXIMUM_RETRY_ATTEMPTS,
    SNS_MESSAGE_MOST,
    TEXT_MOST,
    StatusChange,
    UnreadableRecord,
    message,
    status_change,
    subject,
)
from service.events.relay import TRIES

TOPIC = "arn:aws:sns:us-east-1:123456789012:VehicleStatus"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
PHONE = "208-444-5555"
DESCRIPTION = "Brakes squeal on cold mornings"


def _image(status: str | None, version: int, *, marked: bool | None = True) -> dict[str, Any]:
    image: dict[str, Any] = {
        "license_plate": {"S": "ABC 123"},
        "service_id": {"S": "1"},
        "phone_number": {"S": PHONE},
        "service_description": {"S": DESCRIPTION},
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


def _without(image: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in image.items() if k != name}


@pytest.mark.parametrize(
    "record",
    [
        _record("INSERT", _without(_image("Accepted", 1), "license_plate")),
        _record("MODIFY", _image("Completed", 4), _without(_image("Accepted", 3), "service_id")),
        _record("INSERT", {**_image("Accepted", 1), "license_plate": "ABC 123"}),
        _record("INSERT", {**_image("Accepted", 1), "status_history": {"L": ["tech-sub"]}}),
        _record("INSERT", {**_image("Accepted", 1), "status_changed": "yes"}),
        {**_record("INSERT", _image("Accepted", 1)), "dynamodb": "INSERT"},
        _record("MODIFY", _image("Completed", 4), ["Accepted", PHONE, DESCRIPTION]),  # type: ignore[arg-type]
    ],
    ids=[
        "no plate",
        "old image without id",
        "plate not typed",
        "history of texts",
        "mark not typed",
        "no data",
        "old image a list",
    ],
)
def test_a_record_whose_images_cannot_be_read_is_unreadable_and_says_nothing_of_the_item(
    record: dict[str, Any],
) -> None:
    """Images written elsewhere, or events made by hand: each is an UnreadableRecord, never a KeyError that
    fails the batch, and neither the error nor the failure kept names the phone number or description."""
    with pytest.raises(UnreadableRecord) as raised:
        status_change(record)
    failed = FailedRecord.of(record, reason=str(raised.value), tries=1, kept_by="test")
    for said in (str(raised.value), failed.model_dump_json()):
        assert PHONE not in said
        assert DESCRIPTION not in said


def test_hostile_texts_are_cut_so_that_sns_takes_the_message() -> None:
    """A status history written elsewhere with a 300 KB `by` (and a status full of control characters)
    still makes a message SNS takes: the texts beyond the key are cut to TEXT_MOST characters."""
    new = _image("Completed", 4)
    by = "x" * 300_000
    new["status_history"]["L"][0]["M"]["by"] = {"S": by}
    old = _image("Accepted\x00\x1b" + "y" * 1_000, 3)
    change = status_change(_record("MODIFY", new, old))
    assert change is not None
    publish = message(TOPIC, change)
    assert len(publish["Message"].encode()) < 2_000
    sent = json.loads(publish["Message"])
    assert sent["changed_by"] == by[:TEXT_MOST]
    assert sent["previous_status"] == ("Accepted" + "y" * 1_000)[:TEXT_MOST]
    assert sent["service_status"] == "Completed"
    assert PHONE not in publish["Message"]
    assert DESCRIPTION not in publish["Message"]


def test_a_message_larger_than_sns_takes_is_an_unreadable_record() -> None:
    """Only a record made by hand can have a key this long (DynamoDB's are at most 2 KB): it is refused
    before SNS sees it, as a record that trying again cannot help."""
    image = {**_image("Completed", 1), "license_plate": {"S": "P" * SNS_MESSAGE_MOST}}
    change = status_change(_record("INSERT", image))
    assert change is not None
    with pytest.raises(UnreadableRecord, match="more than SNS takes"):
        message(TOPIC, change)


def test_a_status_of_control_characters_alone_has_no_attribute_sns_would_refuse() -> None:
    change = status_change(_record("INSERT", _image("\x00\x07", 1)))
    assert change is not None
    assert list(message(TOPIC, change)["MessageAttributes"]) == ["event_id"]


def test_an_empty_status_is_no_event() -> None:
    assert status_change(_record("INSERT", _image("", 1))) is None


def test_the_relay_tries_a_record_as_often_as_lambda_tries_it_on_aws() -> None:
    """The first try and MaximumRetryAttempts retries, in the relay as in the stack's event source mapping."""
    template = cfn_yaml.loads(TEMPLATE.read_text(encoding="utf-8"))
    function = template["Resources"]["StatusEventsFunction"]["Properties"]
    (source,) = function["Events"].values()
    assert source["Properties"]["MaximumRetryAttempts"] == MAXIMUM_RETRY_ATTEMPTS
    assert TRIES == 1 + MAXIMUM_RETRY_ATTEMPTS
    # Its on-failure destination is the queue the function keeps unreadable records in.
    failures = {"Ref": "StatusEventFailures"}
    assert function["Environment"]["Variables"]["STATUS_FAILURES_QUEUE_URL"] == failures
    assert source["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["StatusEventFailures", "Arn"]
    }


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
