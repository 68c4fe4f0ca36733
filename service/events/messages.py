"""Status-change events: which records of the table's stream create a request or change its status, and
the SNS message each is published as, by the stream's Lambda function and by `relay-events` alike."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from service.storage.aws import AWS_ERRORS, error_code
from service.storage.items import to_model
from service.storage.tables import STATUS_CHANGED

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sns.type_defs import PublishInputTypeDef

log = logging.getLogger(__name__)

# SNS not answering in time, refusing, or unreachable.
_PUBLISH_ERRORS: tuple[type[Exception], ...] = (TimeoutError, *AWS_ERRORS)

# What the lab's filter policy reads ({"service_status": ["Completed"]}), as a message attribute.
STATUS_ATTRIBUTE = "service_status"
# The longest an SNS Subject may be (it must be under 100 characters of printable ASCII).
_SUBJECT_MAX = 99
# Seconds one publish may take, SNS's retries included; then the record is retried later.
PUBLISH_DEADLINE = 10.0
# Retries of a record SNS did not take, after its first try: the stack's event source mapping allows
# the function as many (template.yaml's MaximumRetryAttempts, which a test compares), and `relay-events`
# gives up on a record after as many tries.
MAXIMUM_RETRY_ATTEMPTS = 10
# The most a Publish request may carry, message, subject and attributes together (SNS's 256 KiB).
SNS_MESSAGE_MOST = 256 * 1024
# The most characters of each text a message copies from an item beyond its key (statuses, `by`, the
# time): the service writes far less; a longer value was typed elsewhere and is cut, not a reason for SNS
# to refuse the message.
TEXT_MOST = 128
# What SNS and SQS take in a text: XML's characters (no NUL, no other C0 control but tab and line breaks).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class StatusChange(BaseModel):
    """The message published for a request's creation or change of status (the course's consumers read
    `service_status`). A message's identity is `event_id`: the request's key and its `version`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": "8B1111/1/3",
                    "service_status": "Completed",
                    "previous_status": "Being Serviced",
                    "license_plate": "8B1111",
                    "service_id": "1",
                    "version": 3,
                    "changed_at": "2026-11-26T16:30:00.000Z",
                    "changed_by": "4f1c2b9e-7d3a-4e51-9c0b-2a6f8d1e3b57",
                }
            ]
        }
    )

    event_id: str = Field(
        description="`<license_plate>/<service_id>/<version>`, plate and id percent-encoded as in the "
        "REST paths: the same change always has the same id, so a consumer can drop a repeat."
    )
    service_status: str
    previous_status: str | None = Field(description="None when the request was created.")
    license_plate: str
    service_id: str
    version: int = Field(description="The request's version after this write (1: created).")
    changed_at: str = Field(description="When the write was made, ISO 8601 in UTC.")
    changed_by: str | None = Field(description="Who made the change: a technician's `sub`, or `public`.")


class UnreadableRecord(Exception):
    """A stream record that does not say what publishing needs (a stream without both images, an image
    without its key or with attributes of other types, a message larger than SNS takes): trying it again
    cannot help. The text names no value of the item."""


class PublishFailed(Exception):
    """SNS did not take a message; the record stays to be published again."""


def record_sequence(record: Any) -> str:
    """The sequence number of a stream record; empty when it has none."""
    data = record.get("dynamodb") if isinstance(record, Mapping) else None
    sequence = data.get("SequenceNumber") if isinstance(data, Mapping) else None
    return sequence if isinstance(sequence, str) else ""


def clean_text(text: str) -> str:
    """`text` as a message carries it: without what SNS and SQS refuse, at most TEXT_MOST characters."""
    return _NOT_XML.sub("", text)[:TEXT_MOST]


def status_change(record: Mapping[str, Any]) -> StatusChange | None:
    """The status change a stream record carries, or None for any other write: an edit that left the
    status alone, a deletion, a write made elsewhere (the console). Raises UnreadableRecord."""
    try:
        return _status_change(record)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # An image written elsewhere, or an event made by hand. Only the exception's type (and a missing
        # attribute's name, which is this code's) is told: its text may quote the item.
        what = type(exc).__name__
        if isinstance(exc, KeyError) and exc.args:
            what += f" {str(exc.args[0])[:60]!r}"
        raise UnreadableRecord(
            f"stream record {record_sequence(record)[:64]!r} cannot be read ({what})"
        ) from None


def _status_change(record: Mapping[str, Any]) -> StatusChange | None:
    event = record.get("eventName")
    data = record.get("dynamodb") or {}
    if event == "REMOVE":
        return None
    new, old = data.get("NewImage"), data.get("OldImage")
    if event not in ("INSERT", "MODIFY") or new is None or (event == "MODIFY" and old is None):
        raise UnreadableRecord(
            f"stream record {record_sequence(record)[:64]!r} ({str(event)[:20]}) lacks the images a "
            "stream of NEW_AND_OLD_IMAGES carries"
        )
    # The service marks the writes that create a request or change its status; others are not events.
    if not new.get(STATUS_CHANGED, {}).get("BOOL"):
        return None
    item = to_model(new)
    if not item.license_plate or not item.service_id:
        # DynamoDB keys are never empty: this image was not made by DynamoDB.
        raise UnreadableRecord(f"stream record {record_sequence(record)[:64]!r} has no key in its new image")
    before = to_model(old) if old is not None else None
    previous = before.service_status if before is not None else None
    # An empty status (typed elsewhere) is none: SNS takes no empty attribute.
    if not item.service_status or item.service_status == previous:
        return None
    if before is not None and before.version == item.version:
        # A write elsewhere (the console) keeps the mark of the last write here, but not the version,
        # which every write here counts.
        return None
    latest = item.status_history[-1] if item.status_history else None
    version = item.version or 0
    by = latest.by if latest and latest.status == item.service_status else None
    # The key is copied whole (DynamoDB bounds it to 3 KB); the rest only as far as clean_text keeps it.
    return StatusChange(
        event_id=f"{quote(item.license_plate, safe='')}/{quote(item.service_id, safe='')}/{version}",
        service_status=clean_text(item.service_status),
        previous_status=clean_text(previous) if previous is not None else None,
        license_plate=item.license_plate,
        service_id=item.service_id,
        version=version,
        changed_at=clean_text(item.updated_at or (latest.at if latest else "")),
        changed_by=clean_text(by) if by is not None else None,
    )


def subject(service_id: str) -> str:
    """The SNS Subject for a request: its id, as the course's consumers expect, held to what SNS takes
    (printable ASCII, starting with a visible character, under 100 characters)."""
    text = "".join(c for c in service_id if " " <= c <= "~").strip()[:_SUBJECT_MAX]
    return text or "service request"


def message(topic_arn: str, change: StatusChange) -> PublishInputTypeDef:
    """The Publish request of one change. Raises UnreadableRecord when it is more than SNS takes."""
    attributes = {STATUS_ATTRIBUTE: change.service_status, "event_id": change.event_id}
    publish: PublishInputTypeDef = {
        "TopicArn": topic_arn,
        "Subject": subject(change.service_id),
        "Message": change.model_dump_json(),
        # SNS takes no empty attribute; a status that was all control characters has none.
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items() if value
        },
    }
    size = sum(len(text.encode()) for text in (publish["Message"], publish["Subject"]))
    size += sum(len(f"{name}String{value}".encode()) for name, value in attributes.items())
    if size > SNS_MESSAGE_MOST:
        raise UnreadableRecord(
            f"the message of {change.event_id[:200]} would be {size} bytes, more than SNS takes "
            f"({SNS_MESSAGE_MOST})"
        )
    return publish


class StatusPublisher:
    """Publishes the status changes among stream records to one topic."""

    def __init__(self, sns: SNSClient, topic_arn: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn

    async def publish_record(self, record: Mapping[str, Any]) -> StatusChange | None:
        """Publish the change `record` carries, if it carries one; the change published, or None.
        Raises PublishFailed when SNS does not take it, UnreadableRecord."""
        change = status_change(record)
        if change is None:
            return None
        publish = message(self._topic_arn, change)
        try:
            async with asyncio.timeout(PUBLISH_DEADLINE):
                await self._sns.publish(**publish)
        except _PUBLISH_ERRORS as exc:
            code = error_code(exc)
            why = code or type(exc).__name__
            log.warning("publishing %s failed: %s", change.event_id, why)
            raise PublishFailed(f"SNS did not take {change.event_id}: {why}") from exc
        log.info("published %s: %s", change.event_id, change.service_status)
        return change
