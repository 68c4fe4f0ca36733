"""Status-change events: which records of the table's stream create a request or change its status, and
the SNS message each is published as, by the stream's Lambda function and by `relay-events` alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from service.repository import to_model
from service.table import STATUS_CHANGED

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sns.type_defs import PublishInputTypeDef

log = logging.getLogger(__name__)

# What the lab's filter policy reads ({"service_status": ["Completed"]}), as a message attribute.
STATUS_ATTRIBUTE = "service_status"
# The longest an SNS Subject may be (it must be under 100 characters of printable ASCII).
_SUBJECT_MAX = 99
# Seconds one publish may take, SNS's retries included; then the record is retried later.
PUBLISH_DEADLINE = 10.0


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
    """A stream record that does not say what publishing needs (a stream without both images)."""


class PublishFailed(Exception):
    """SNS did not take a message; the record stays to be published again."""


def status_change(record: Mapping[str, Any]) -> StatusChange | None:
    """The status change a stream record carries, or None for any other write: an edit that left the
    status alone, a deletion, a write made elsewhere (the console). Raises UnreadableRecord."""
    event = record.get("eventName")
    data = record.get("dynamodb") or {}
    if event == "REMOVE":
        return None
    new, old = data.get("NewImage"), data.get("OldImage")
    if event not in ("INSERT", "MODIFY") or new is None or (event == "MODIFY" and old is None):
        raise UnreadableRecord(
            f"stream record {data.get('SequenceNumber')} ({event}) lacks the images a stream of "
            "NEW_AND_OLD_IMAGES carries"
        )
    # The service marks the writes that create a request or change its status; others are not events.
    if not new.get(STATUS_CHANGED, {}).get("BOOL"):
        return None
    item = to_model(new)
    before = to_model(old) if old is not None else None
    previous = before.service_status if before is not None else None
    if item.service_status is None or item.service_status == previous:
        return None
    if before is not None and before.version == item.version:
        # A write elsewhere (the console) keeps the mark of the last write here, but not the version,
        # which every write here counts.
        return None
    latest = item.status_history[-1] if item.status_history else None
    version = item.version or 0
    return StatusChange(
        event_id=f"{quote(item.license_plate, safe='')}/{quote(item.service_id, safe='')}/{version}",
        service_status=item.service_status,
        previous_status=previous,
        license_plate=item.license_plate,
        service_id=item.service_id,
        version=version,
        changed_at=item.updated_at or (latest.at if latest else ""),
        changed_by=latest.by if latest and latest.status == item.service_status else None,
    )


def subject(service_id: str) -> str:
    """The SNS Subject for a request: its id, as the course's consumers expect, held to what SNS takes
    (printable ASCII, starting with a visible character, under 100 characters)."""
    text = "".join(c for c in service_id if " " <= c <= "~").strip()[:_SUBJECT_MAX]
    return text or "service request"


def message(topic_arn: str, change: StatusChange) -> PublishInputTypeDef:
    """The Publish request of one change."""
    return {
        "TopicArn": topic_arn,
        "Subject": subject(change.service_id),
        "Message": change.model_dump_json(),
        "MessageAttributes": {
            STATUS_ATTRIBUTE: {"DataType": "String", "StringValue": change.service_status},
            "event_id": {"DataType": "String", "StringValue": change.event_id},
        },
    }


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
        try:
            async with asyncio.timeout(PUBLISH_DEADLINE):
                await self._sns.publish(**message(self._topic_arn, change))
        except (TimeoutError, ClientError, BotoCoreError) as exc:
            code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
            log.warning("publishing %s failed: %s", change.event_id, code or type(exc).__name__)
            raise PublishFailed(f"SNS did not take {change.event_id}") from exc
        log.info("published %s: %s", change.event_id, change.service_status)
        return change

    async def publish_batch(self, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Publish the changes among `records` in order, up to the first that cannot be published; the
        sequence number of that one, for it and those after it to be tried again (empty: all went)."""
        for record in records:
            try:
                await self.publish_record(record)
            except (PublishFailed, UnreadableRecord) as exc:
                log.warning("stopping the batch at a record: %s", exc)
                return [str((record.get("dynamodb") or {}).get("SequenceNumber", ""))]
        return []
