"""`python -m service relay-events`: follows the table's stream with the DynamoDB Streams API and publishes
its status changes, recording in DynamoDB how far it got in each shard so that a restart goes on there. A
record that cannot be published is kept in the failure queue, and the relay goes on past it.

The checkpoints are items of the Idempotency-Key table, one per shard, under keys that no Idempotency-Key
header can carry (they hold spaces): that table exists wherever the service runs and holds the service's
own bookkeeping already, while VehicleServices must hold service requests only (the lab's Lambda scans it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, suppress
from typing import TYPE_CHECKING, Any

from service.core.errors import BackendUnavailable
from service.events.failure_queue import FailedRecord, FailureQueue, KeepFailed
from service.events.messages import MAXIMUM_RETRY_ATTEMPTS, PublishFailed, StatusPublisher, UnreadableRecord
from service.storage.aws import AWS_ERRORS, error_code
from service.storage.checkpoints import Checkpoint, Checkpoints, table_stream

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodbstreams import DynamoDBStreamsClient
    from types_aiobotocore_dynamodbstreams.type_defs import ShardTypeDef

log = logging.getLogger(__name__)

# The shard list is read again this often (DynamoDB opens new shards every few hours), and at once when
# a shard closes.
_SHARDS_REFRESH_SECONDS = 60.0
# The longest wait between attempts while SNS or DynamoDB fails: this many polls, and at most 30 s.
_MOST_BACKOFF_POLLS = 30
_MOST_BACKOFF_SECONDS = 30.0
# Tries of a record SNS does not take before the relay keeps it in the failure queue and goes on: as
# many as the stack's function gets.
TRIES = 1 + MAXIMUM_RETRY_ATTEMPTS
_STREAM_VIEW = "NEW_AND_OLD_IMAGES"


class RelayError(Exception):
    """The table cannot be relayed as it is (no stream, or one without both images)."""


class StreamRelay:
    """Publishes the status changes of one table's stream, shard by shard, parents before children."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        streams: DynamoDBStreamsClient,
        publisher: StatusPublisher,
        failures: FailureQueue,
        *,
        table_name: str,
        checkpoint_table: str,
        guard: Callable[[], AbstractAsyncContextManager[None]],
        poll_seconds: float = 1.0,
    ) -> None:
        self._dynamodb = dynamodb
        self._streams = streams
        self._publisher = publisher
        self._failures = failures
        self._table = table_name
        self._checkpoint_table = checkpoint_table
        self._guard = guard
        self._poll_seconds = poll_seconds
        self._checkpoints: Checkpoints | None = None
        self._stream_arn = ""
        self._shards: list[ShardTypeDef] = []
        self._shards_read_at = 0.0
        self._finished: set[str] = set()
        # Where reading goes on in each open shard: GetRecords' NextShardIterator, kept between polls.
        self._iterators: dict[str, str] = {}
        # The record of each shard that SNS did not take, and how often it was tried.
        self._tries: dict[str, tuple[str, int]] = {}
        self.published = 0
        self.given_up = 0

    async def _stream(self) -> Checkpoints:
        if self._checkpoints is None:
            stream_arn, view = await table_stream(self._dynamodb, self._table, guard=self._guard)
            if stream_arn is None:
                raise RelayError(
                    f"table {self._table} has no stream: run `python -m service init-table` with "
                    "STATUS_TOPIC_ARN set"
                )
            if view != _STREAM_VIEW:
                raise RelayError(f"the stream of {self._table} must carry {_STREAM_VIEW}")
            self._stream_arn = stream_arn
            self._checkpoints = Checkpoints(
                self._dynamodb, self._checkpoint_table, self._stream_arn, guard=self._guard
            )
            log.info("relaying %s", self._stream_arn)
        return self._checkpoints

    async def _read_shards(self) -> None:
        shards: list[ShardTypeDef] = []
        start: dict[str, Any] = {}
        while True:
            async with self._guard():
                page = await self._streams.describe_stream(StreamArn=self._stream_arn, **start)
            description = page["StreamDescription"]
            shards += description.get("Shards", [])
            if "LastEvaluatedShardId" not in description:
                break
            start = {"ExclusiveStartShardId": description["LastEvaluatedShardId"]}
        self._shards = shards
        self._shards_read_at = time.monotonic()

    async def catch_up(self) -> int:
        """Publish what the stream holds beyond the checkpoints, shard by shard; the changes published.
        Raises PublishFailed (a record's try, under TRIES), KeepFailed, BackendUnavailable (the checkpoints
        then say where to go on), RelayError."""
        checkpoints = await self._stream()
        if not self._shards or time.monotonic() - self._shards_read_at > _SHARDS_REFRESH_SECONDS:
            await self._read_shards()
        known = {shard["ShardId"] for shard in self._shards}
        published = 0
        progress = True
        while progress:  # a child becomes readable once its parent is finished within this pass
            progress = False
            for shard in self._shards:
                shard_id = shard["ShardId"]
                parent = shard.get("ParentShardId")
                if shard_id in self._finished or (parent in known and parent not in self._finished):
                    continue
                count, finished = await self._read_shard(checkpoints, shard_id)
                published += count
                if finished:
                    progress = True
                    self._shards_read_at = 0.0  # its children may be new: read the list next time
        self.published += published
        return published

    async def _read_shard(self, checkpoints: Checkpoints, shard_id: str) -> tuple[int, bool]:
        """Read one shard as far as it goes now; the changes published, and whether it is finished."""
        iterator = self._iterators.pop(shard_id, None)
        if iterator is None:
            checkpoint = await checkpoints.get(shard_id)
            if checkpoint is not None and checkpoint.finished:
                self._finished.add(shard_id)
                return 0, True
            iterator = await self._iterator(shard_id, checkpoint)
        published = 0
        while True:
            try:
                async with self._guard():
                    page = await self._streams.get_records(ShardIterator=iterator, Limit=1000)
            except AWS_ERRORS as exc:
                if error_code(exc) not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                    raise
                # Start again from the checkpoint on the next pass.
                log.info("shard %s: %s; reading again from the checkpoint", shard_id, error_code(exc))
                return published, False
            records = page.get("Records", [])
            for record in records:
                sequence = record["dynamodb"]["SequenceNumber"]
                try:
                    if await self._publisher.publish_record(record) is not None:
                        published += 1
                except UnreadableRecord as exc:
                    # Trying again cannot help.
                    await self._give_up(shard_id, record, str(exc), tries=1)
                except PublishFailed as exc:
                    stuck, tries = self._tries.get(shard_id, (sequence, 0))
                    tries = tries + 1 if stuck == sequence else 1
                    if tries < TRIES:
                        self._tries[shard_id] = (sequence, tries)
                        raise
                    await self._give_up(shard_id, record, str(exc), tries=tries)
                self._tries.pop(shard_id, None)
                await checkpoints.advance(shard_id, sequence)
            next_iterator = page.get("NextShardIterator")
            if next_iterator is None:
                last = records[-1]["dynamodb"]["SequenceNumber"] if records else None
                await self._finish(checkpoints, shard_id, last)
                return published, True
            iterator = next_iterator
            if not records:
                self._iterators[shard_id] = iterator
                return published, False

    async def _give_up(self, shard_id: str, record: Mapping[str, Any], reason: str, *, tries: int) -> None:
        """Keep `record` in the failure queue for a person, and say so once. Raises KeepFailed."""
        failed = FailedRecord.of(
            record,
            reason=reason,
            tries=tries,
            kept_by="relay-events",
            stream_arn=self._stream_arn,
            shard_id=shard_id,
        )
        await self._failures.keep(failed)
        self.given_up += 1
        log.error(
            "shard %s: record %s not published after %d tries (%s); kept in %s",
            shard_id,
            failed.sequence_number,
            tries,
            failed.reason,
            self._failures.url,
        )

    async def _iterator(self, shard_id: str, checkpoint: Checkpoint | None) -> str:
        """A shard iterator right after the checkpoint, or at the oldest record the stream keeps."""
        options: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
        if checkpoint is not None:
            options = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": checkpoint.sequence}
        try:
            async with self._guard():
                response = await self._streams.get_shard_iterator(
                    StreamArn=self._stream_arn, ShardId=shard_id, **options
                )
        except AWS_ERRORS as exc:
            if error_code(exc) != "TrimmedDataAccessException":
                raise
            log.error(
                "shard %s: the records after %s are gone (the stream keeps 24 hours): what changed then "
                "was not published",
                shard_id,
                checkpoint.sequence if checkpoint else "the start",
            )
            async with self._guard():
                response = await self._streams.get_shard_iterator(
                    StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )
        return response["ShardIterator"]

    async def _finish(self, checkpoints: Checkpoints, shard_id: str, last: str | None) -> None:
        checkpoint = await checkpoints.get(shard_id)
        sequence = last or (checkpoint.sequence if checkpoint else "0")
        await checkpoints.advance(shard_id, sequence, finished=True)
        self._finished.add(shard_id)
        log.info("shard %s finished", shard_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Catch up, wait, and again, until `stop` is set; failures of SNS or DynamoDB are waited out
        (with growing pauses), a record SNS does not take TRIES times is kept in the failure queue and
        passed. Raises RelayError."""
        pause = self._poll_seconds
        most = min(_MOST_BACKOFF_SECONDS, self._poll_seconds * _MOST_BACKOFF_POLLS)
        while not stop.is_set():
            try:
                published = await self.catch_up()
                pause = self._poll_seconds
            except (PublishFailed, KeepFailed, BackendUnavailable) as exc:
                log.warning("relay paused %.2f s: %s", pause, exc)
                self._iterators.clear()  # go on from the checkpoints, not past a record left unpublished
                published = 0
                pause = min(pause * 2, most)
            if published == 0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
