"""`handler(event, context)` of the stream's function (`lambda_adapter.stream.handler`): publishes the
status changes of a batch of the table's stream records to STATUS_TOPIC_ARN, reporting a record SNS did
not take as the batch's failure, so that Lambda tries it (and those after it) again."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import Any

from mangum.types import LambdaContext

from service.clients import open_sns
from service.events import StatusPublisher
from service.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)


class StreamFunction:
    """The publisher, built on the first invocation and kept with its SNS client and event loop for
    the container's life, as the API's adapter keeps its DynamoDB client."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stack = AsyncExitStack()
        self._publisher: StatusPublisher | None = None

    async def _build(self) -> StatusPublisher:
        settings = self._settings or Settings()
        logging.getLogger().setLevel(settings.log_level)
        if settings.status_topic_arn is None:
            raise ConfigurationError("the stream's function needs STATUS_TOPIC_ARN")
        return StatusPublisher(await open_sns(settings, self._stack), settings.status_topic_arn)

    async def _handle(self, records: list[dict[str, Any]]) -> list[str]:
        if self._publisher is None:
            self._publisher = await self._build()
        return await self._publisher.publish_batch(records)

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        records = event.get("Records") or []
        failed = self._loop.run_until_complete(self._handle(records))
        # Partial batch response: Lambda goes on from the lowest sequence number reported.
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}

    def close(self) -> None:
        """Close the SNS client and the loop. A container never needs this; tests do."""
        if self._loop is None:
            return
        self._loop.run_until_complete(self._stack.aclose())
        self._loop.close()
        self._loop = self._publisher = None
        self._stack = AsyncExitStack()


_function = StreamFunction()


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point of the stream's event source mapping."""
    return _function(event, context)
