"""`handler(event, context)` of the stream's function (`lambda_adapter.stream.handler`): publishes the
status changes of a batch of the table's stream records to STATUS_TOPIC_ARN. A record SNS did not take is
reported as the batch's failure, so that Lambda tries it (and those after it) again; a record that cannot
be read is kept in STATUS_FAILURES_QUEUE_URL's queue at once, and the batch goes on."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import Any

from mangum.types import LambdaContext

from service.core.settings import ConfigurationError, Settings
from service.events.failure_queue import FailedRecord, FailureQueue, KeepFailed
from service.events.messages import PublishFailed, StatusPublisher, UnreadableRecord, record_sequence
from service.storage.aws import open_sns, open_sqs

log = logging.getLogger(__name__)


class StreamFunction:
    """The publisher and the failure queue, built on the first invocation and kept with their clients and
    event loop for the container's life, as the API's adapter keeps its DynamoDB client."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stack = AsyncExitStack()
        self._publisher: StatusPublisher | None = None
        self._failures: FailureQueue | None = None

    async def _build(self) -> StatusPublisher:
        settings = self._settings or Settings()
        logging.getLogger().setLevel(settings.log_level)
        if settings.status_topic_arn is None:
            raise ConfigurationError("the stream's function needs STATUS_TOPIC_ARN")
        if settings.status_failures_queue_url is not None:
            self._failures = FailureQueue(
                await open_sqs(settings, self._stack), settings.status_failures_queue_url
            )
        return StatusPublisher(await open_sns(settings, self._stack), settings.status_topic_arn)

    async def _handle(self, records: list[Any], function_name: str) -> list[str]:
        """Publish the changes among `records` in order; the sequence numbers to report: a record SNS did
        not take (those after it are left to Lambda's retry, so that they keep their order), and before
        it any record that could neither be read nor kept."""
        if self._publisher is None:
            self._publisher = await self._build()
        reported = []
        for record in records:
            try:
                await self._publisher.publish_record(record)
            except UnreadableRecord as exc:
                # It can never be published: Lambda's retries would hold up the shard, and send the
                # records after it again, for nothing. Reported only when it could not be kept.
                if not await self._kept(record, str(exc), function_name):
                    reported.append(record_sequence(record))
            except PublishFailed:
                reported.append(record_sequence(record))
                break
        return reported

    async def _kept(self, record: Any, reason: str, function_name: str) -> bool:
        failed = FailedRecord.of(record, reason=reason, tries=1, kept_by=function_name)
        if self._failures is None:
            log.error("record %s cannot be published (%s); no failure queue", failed.sequence_number, reason)
            return False
        try:
            await self._failures.keep(failed)
        except KeepFailed as exc:
            log.error("record %s cannot be published (%s), nor kept: %s", failed.sequence_number, reason, exc)
            return False
        log.error(
            "record %s cannot be published (%s); kept in %s",
            failed.sequence_number,
            reason,
            self._failures.url,
        )
        return True

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        records = event.get("Records") or []
        failed = self._loop.run_until_complete(self._handle(records, context.function_name))
        # Partial batch response: Lambda goes on from the lowest sequence number reported.
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}

    def close(self) -> None:
        """Close the clients and the loop. A container never needs this; tests do."""
        if self._loop is None:
            return
        self._loop.run_until_complete(self._stack.aclose())
        self._loop.close()
        self._loop = self._publisher = self._failures = None
        self._stack = AsyncExitStack()


_function = StreamFunction()


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point of the stream's event source mapping."""
    return _function(event, context)
