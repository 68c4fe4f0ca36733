"""Stream records that could not be published, kept in an SQS queue where a person finds them: the stack's
StatusEventFailures queue on AWS, a queue of that name at the local SQS elsewhere."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from service.core.settings import ConfigurationError, Settings
from service.events.messages import record_sequence
from service.storage.aws import AWS_ERRORS, error_code, open_sqs

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = logging.getLogger(__name__)

FAILURE_QUEUE = "StatusEventFailures"
# As long as the stack's queue keeps a message (template.yaml), and as long as SQS allows.
_RETENTION_SECONDS = 14 * 24 * 3600
# What of a record is kept: its key's attributes (never the images: they hold phone numbers and
# descriptions), each cut to this many characters, and a reason cut to this many.
_KEY_NAMES = ("license_plate", "service_id")
_KEY_MOST = 256
_REASON_MOST = 1000


class FailedRecord(BaseModel):
    """One stream record that was not published, as kept in the failure queue: where it is in the stream,
    which request it is about, and why."""

    reason: str
    stream_arn: str | None
    shard_id: str | None = Field(description="None from the stream's function: Lambda does not tell it.")
    sequence_number: str
    event_id: str | None = Field(description="The stream record's eventID.")
    keys: dict[str, str] = Field(description="The item's key, as far as the record carries it.")
    tries: int
    failed_at: str
    kept_by: str

    @classmethod
    def of(
        cls,
        record: Any,
        *,
        reason: str,
        tries: int,
        kept_by: str,
        stream_arn: str | None = None,
        shard_id: str | None = None,
    ) -> FailedRecord:
        """The failure of `record`, read as far as it can be: a record that failed may be malformed."""
        record = record if isinstance(record, Mapping) else {}
        data = record.get("dynamodb")
        data = data if isinstance(data, Mapping) else {}
        keys = data.get("Keys")
        keys = keys if isinstance(keys, Mapping) else {}
        found = {name: keys.get(name) for name in _KEY_NAMES}
        event_id = record.get("eventID")
        arn = stream_arn or record.get("eventSourceARN")
        return cls(
            reason=reason[:_REASON_MOST],
            stream_arn=arn[:_REASON_MOST] if isinstance(arn, str) else None,
            shard_id=shard_id,
            sequence_number=record_sequence(record)[:_KEY_MOST],
            event_id=event_id[:_KEY_MOST] if isinstance(event_id, str) else None,
            keys={
                name: value["S"][:_KEY_MOST]
                for name, value in found.items()
                if isinstance(value, Mapping) and isinstance(value.get("S"), str)
            },
            tries=tries,
            failed_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            kept_by=kept_by,
        )


class KeepFailed(Exception):
    """The failure queue did not take a failed record; it stays to be tried again."""


class FailureQueue:
    """The queue failed records are kept in."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self.url = queue_url

    async def keep(self, failed: FailedRecord) -> None:
        """Send `failed` to the queue. Raises KeepFailed."""
        try:
            await self._sqs.send_message(QueueUrl=self.url, MessageBody=failed.model_dump_json())
        except AWS_ERRORS as exc:
            code = error_code(exc)
            raise KeepFailed(
                f"the failure queue did not take a record: {code or type(exc).__name__}"
            ) from exc


async def ensure_failure_queue(sqs: SQSClient) -> str:
    """Create the local failure queue unless it exists, as the stack's keeps messages; its URL."""
    created = await sqs.create_queue(
        QueueName=FAILURE_QUEUE, Attributes={"MessageRetentionPeriod": str(_RETENTION_SECONDS)}
    )
    return created["QueueUrl"]


async def open_failure_queue(settings: Settings, stack: AsyncExitStack) -> FailureQueue:
    """STATUS_FAILURES_QUEUE_URL's queue, or the local SQS's StatusEventFailures, created when missing.
    Raises ConfigurationError against AWS without STATUS_FAILURES_QUEUE_URL."""
    if settings.status_failures_queue_url is None and settings.endpoint("sqs") is None:
        raise ConfigurationError(
            "against AWS, STATUS_FAILURES_QUEUE_URL must name the queue for records that cannot be "
            "published (the stack's StatusEventFailuresQueue output)"
        )
    sqs = await open_sqs(settings, stack)
    if settings.status_failures_queue_url is not None:
        return FailureQueue(sqs, settings.status_failures_queue_url)
    url = await ensure_failure_queue(sqs)
    log.info("records that cannot be published go to %s", url)
    return FailureQueue(sqs, url)
