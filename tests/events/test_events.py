"""Status changes as events: the table's stream relayed to the lab's topic (in process, as the stream's
Lambda function, and as `relay-events` killed and started again), and what reaches the lab's queues."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import httpx
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from lambda_adapter.stream import StreamFunction
from service.core.settings import ConfigurationError, Settings
from service.events.failure_queue import ensure_failure_queue, open_failure_queue
from service.events.messages import TEXT_MOST, PublishFailed, StatusPublisher
from service.events.relay import TRIES, StreamRelay
from service.local.lab_queues import watch
from service.storage.audit import audit
from service.storage.aws import open_sns, open_sqs, open_streams
from service.storage.backend import open_client
from service.storage.guard import deadline_guard
from tests.support.helpers import FORM, create
from tests.support.lab_topic import ALL, COMPLETED, TOPIC_ARN, LabTopic, Received, module_8, with_events
from tests.support.lambda_events import Context
from tests.support.process import RELAY_COMMAND, as_run_here

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodbstreams import DynamoDBStreamsClient
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient

pytestmark = pytest.mark.moto_only("dynalite has no streams; moto serves DynamoDB, its stream, SNS and SQS")

TECHNICIAN = "4f1c2b9e-technician"  # the `sub` of the test pool's tokens


@pytest.fixture
def settings(dynamodb_endpoint: str, settings: Settings) -> Settings:
    """The tests' settings with events: the lab's topic, SNS and SQS on the same moto server."""
    return with_events(settings, dynamodb_endpoint)


@pytest.fixture
async def lab(settings: Settings) -> AsyncIterator[LabTopic]:
    async with module_8(settings) as lab:
        yield lab


@dataclass
class Kept:
    """The failure queue, as a person reads it."""

    sqs: SQSClient
    url: str

    async def drain(self) -> list[dict[str, Any]]:
        """Every failed record in the queue now, taken off it."""
        kept: list[dict[str, Any]] = []
        while True:
            response = await self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            if not response.get("Messages"):
                return kept
            for received in response["Messages"]:
                kept.append(json.loads(received["Body"]))
                await self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=received["ReceiptHandle"])


@pytest.fixture(autouse=True)
async def kept(settings: Settings) -> AsyncIterator[Kept]:
    """The local failure queue (the relay finds it by its name), empty, and deleted after the test."""
    async with AsyncExitStack() as stack:
        sqs = await open_sqs(settings, stack)
        url = await ensure_failure_queue(sqs)
        await sqs.purge_queue(QueueUrl=url)
        yield Kept(sqs, url)
        await sqs.delete_queue(QueueUrl=url)


async def _relay(
    settings: Settings,
    stack: AsyncExitStack,
    *,
    sns: SNSClient | None = None,
    streams: DynamoDBStreamsClient | None = None,
    poll_seconds: float = 0.1,
    **overrides: Any,
) -> StreamRelay:
    settings = settings.model_copy(update=overrides)
    assert settings.status_topic_arn is not None
    return StreamRelay(
        await open_client(settings, stack),
        streams or await open_streams(settings, stack),
        StatusPublisher(sns or await open_sns(settings, stack), settings.status_topic_arn),
        await open_failure_queue(settings, stack),
        table_name=settings.table_name,
        checkpoint_table=settings.idempotency_table_name,
        guard=lambda: deadline_guard(5),
        poll_seconds=poll_seconds,
    )


def _summary(received: list[Received]) -> list[tuple[str, str, str | None, int, str | None, str]]:
    """(subject, status, previous status, version, by, attribute) of each message, in version order."""
    rows = [
        (
            r.subject,
            r.message["service_status"],
            r.message["previous_status"],
            r.message["version"],
            r.message["changed_by"],
            r.attributes["service_status"],
        )
        for r in received
    ]
    return sorted(rows, key=lambda row: (row[0], row[3]))


async def test_creations_and_status_changes_reach_the_lab_queues_and_edits_do_not(
    settings: Settings, api: httpx.AsyncClient, lab: LabTopic
) -> None:
    first = await create(api, license_plate="7TRK001", service_id="A1")
    path = "/requests/7TRK001/A1"
    assert (await api.patch(path, json={"service_description": "Brakes and oil"})).status_code == 200  # v2
    assert (await api.patch(path, json={"service_status": "Accepted"})).status_code == 200  # v3
    assert (await api.patch(path, json={"service_status": "accepted"})).status_code == 200  # v4, the same
    completed = await api.put(
        "/admin-service-request/A1", json={"license_plate": "7TRK001", "service_status": "Completed"}
    )  # v5
    assert completed.json() == "Successfully updated service request"
    assert (await api.post("/service-request", json=FORM)).status_code == 201
    (public,) = (await api.get("/vehicles/1J1957/requests")).json()["items"]
    assert (
        await api.patch(f"/requests/1J1957/{public['service_id']}", json={"phone_number": "208-867-5310"})
    ).status_code == 200

    async with AsyncExitStack() as stack:
        relay = await _relay(settings, stack)
        assert await relay.catch_up() == 4
        assert await relay.catch_up() == 0  # nothing twice

    everything = await lab.drain(ALL)
    assert _summary(everything) == sorted(
        [
            ("A1", "New Request", None, 1, TECHNICIAN, "New Request"),
            ("A1", "Accepted", "New Request", 3, TECHNICIAN, "Accepted"),
            ("A1", "Completed", "Accepted", 5, TECHNICIAN, "Completed"),
            (public["service_id"], "New Request", None, 1, "public", "New Request"),
        ],
        key=lambda row: (row[0], row[3]),
    )
    assert _summary(await lab.drain(COMPLETED)) == [
        ("A1", "Completed", "Accepted", 5, TECHNICIAN, "Completed")
    ]
    created = next(r.message for r in everything if r.message["version"] == 1 and r.subject == "A1")
    assert created == {
        "event_id": "7TRK001/A1/1",
        "service_status": "New Request",
        "previous_status": None,
        "license_plate": "7TRK001",
        "service_id": "A1",
        "version": 1,
        "changed_at": first["created_at"],
        "changed_by": TECHNICIAN,
    }


async def test_an_sns_outage_loses_nothing_and_the_relay_goes_on_where_it_stopped(
    settings: Settings, api: httpx.AsyncClient, lab: LabTopic
) -> None:
    await create(api, service_id="B1")
    await api.patch("/requests/8B1111/B1", json={"service_status": "Waiting for Parts"})
    async with AsyncExitStack() as stack:
        # A topic that does not exist: SNS refuses every message.
        broken = await _relay(settings, stack, status_topic_arn=TOPIC_ARN + "-gone")
        with pytest.raises(PublishFailed):
            await broken.catch_up()
        assert await lab.drain(ALL) == []
        relay = await _relay(settings, stack)
        assert await relay.catch_up() == 2
    statuses = [r.message["service_status"] for r in await lab.drain(ALL)]
    assert sorted(statuses) == ["New Request", "Waiting for Parts"]


async def test_a_relay_run_in_the_background_publishes_as_changes_come_and_stops_when_told(
    settings: Settings, api: httpx.AsyncClient, lab: LabTopic
) -> None:
    async with AsyncExitStack() as stack:
        relay = await _relay(settings, stack)
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        await create(api, service_id="C1", service_status="Completed")
        async with asyncio.timeout(30):
            # The queue is another server's: it is polled.
            while not (completed := await lab.drain(COMPLETED)):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(running, timeout=10)
    assert [r.message["event_id"] for r in completed] == ["8B1111/C1/1"]
    assert relay.published == 1


async def _stream_records(settings: Settings, stack: AsyncExitStack) -> tuple[str, list[dict[str, Any]]]:
    """The stream's ARN and its records so far, read with the DynamoDB Streams API."""
    dynamodb, streams = await open_client(settings, stack), await open_streams(settings, stack)
    arn = (await dynamodb.describe_table(TableName=settings.table_name))["Table"]["LatestStreamArn"]
    (shard,) = (await streams.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
    iterator = await streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )
    page = await streams.get_records(ShardIterator=iterator["ShardIterator"])
    return arn, [dict(record) for record in page["Records"]]


def _as_lambda_delivers(arn: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A DynamoDB stream event as Lambda hands it to a function: the records with the mapping's source
    ARN, and the creation time in epoch seconds."""
    delivered = []
    for record in records:
        data = dict(record["dynamodb"])
        data["ApproximateCreationDateTime"] = data["ApproximateCreationDateTime"].timestamp()
        delivered.append({**record, "dynamodb": data, "eventSourceARN": arn})
    event: dict[str, Any] = json.loads(json.dumps({"Records": delivered}))
    return event


Invoke = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@pytest.fixture
async def stream_function(settings: Settings) -> AsyncIterator[Callable[[Settings], Invoke]]:
    """Invokers of the stream's function in fresh containers, closed after the test. The function keeps
    an event loop of its own, as in a Lambda container: it runs in a thread."""
    functions: list[StreamFunction] = []

    def container(settings: Settings) -> Invoke:
        function = StreamFunction(settings)
        functions.append(function)
        return lambda event: asyncio.to_thread(function, event, Context(function_name="publishStatusEvents"))

    yield container
    for function in functions:
        await asyncio.to_thread(function.close)


async def test_the_stream_function_publishes_a_batchs_status_changes(
    settings: Settings, stream_function: Callable[[Settings], Invoke], api: httpx.AsyncClient, lab: LabTopic
) -> None:
    await create(api, service_id="L1")
    await api.patch("/requests/8B1111/L1", json={"service_description": "Tyres"})
    await api.patch("/requests/8B1111/L1", json={"service_status": "Completed"})
    async with AsyncExitStack() as stack:
        arn, records = await _stream_records(settings, stack)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "MODIFY"]
    invoke = stream_function(settings)
    assert await invoke(_as_lambda_delivers(arn, records)) == {"batchItemFailures": []}
    assert [r.message["event_id"] for r in await lab.drain(COMPLETED)] == ["8B1111/L1/3"]
    assert sorted(r.message["event_id"] for r in await lab.drain(ALL)) == ["8B1111/L1/1", "8B1111/L1/3"]


async def test_the_stream_function_reports_the_first_record_sns_did_not_take(
    settings: Settings, stream_function: Callable[[Settings], Invoke], api: httpx.AsyncClient, lab: LabTopic
) -> None:
    await create(api, service_id="L2")
    await api.patch("/requests/8B1111/L2", json={"service_description": "Tyres"})
    await api.patch("/requests/8B1111/L2", json={"service_status": "Accepted"})
    await api.patch("/requests/8B1111/L2", json={"service_status": "Completed"})
    async with AsyncExitStack() as stack:
        arn, records = await _stream_records(settings, stack)
    # The batch starts with the edit, which is no event; SNS refuses the next record, and the last
    # one is left for Lambda to send again with it.
    event = _as_lambda_delivers(arn, records[1:])
    invoke = stream_function(settings.model_copy(update={"status_topic_arn": TOPIC_ARN + "-gone"}))
    failures = await invoke(event)
    assert failures == {"batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]}
    assert await lab.drain(ALL) == []


_KEYS_ONLY = {
    "eventID": "c4ca4238a0b923820dcc509a6f75849b",
    "eventName": "MODIFY",
    "eventVersion": "1.1",
    "eventSource": "aws:dynamodb",
    "awsRegion": "us-east-1",
    "dynamodb": {
        "ApproximateCreationDateTime": 1764170645.0,
        "Keys": {"license_plate": {"S": "8B1111"}, "service_id": {"S": "1"}},
        "SequenceNumber": "1000",
        "SizeBytes": 26,
        "StreamViewType": "KEYS_ONLY",
    },
}


def _unreadable(kind: str, good: dict[str, Any]) -> dict[str, Any]:
    """A record the function cannot read, made from a readable one, numbered before it."""
    if kind == "keys only":
        return {**_KEYS_ONLY, "eventSourceARN": good["eventSourceARN"]}
    record: dict[str, Any] = json.loads(json.dumps(good))
    record["eventID"] = "e4da3b7fbbce2345d7772b0674a318d5"
    data = record["dynamodb"]
    data["SequenceNumber"] = "1000"
    image = data["NewImage"]
    if kind == "image without its key":
        del image["license_plate"]
    elif kind == "attributes of other types":
        image["status_history"] = {"L": ["tech-sub"]}
        image["version"] = "1"
    else:  # a message larger than SNS takes: a key no DynamoDB table holds
        image["license_plate"] = data["Keys"]["license_plate"] = {"S": "P" * 300_000}
    return record


@pytest.mark.parametrize(
    "kind", ["keys only", "image without its key", "attributes of other types", "message too large"]
)
async def test_the_stream_function_keeps_a_record_it_cannot_read_and_publishes_the_rest_of_the_batch(
    kind: str,
    settings: Settings,
    stream_function: Callable[[Settings], Invoke],
    api: httpx.AsyncClient,
    lab: LabTopic,
    kept: Kept,
) -> None:
    """Trying again cannot help such a record: it goes to the failure queue at once, is not reported (Lambda
    would hold up the shard and send the records after it again, to end with the whole rest of the batch
    in the queue), and the records after it are published."""
    await create(api, service_id="L4")
    async with AsyncExitStack() as stack:
        arn, records = await _stream_records(settings, stack)
    (good,) = _as_lambda_delivers(arn, records)["Records"]
    bad = _unreadable(kind, good)
    invoke = stream_function(settings.model_copy(update={"status_failures_queue_url": kept.url}))
    assert await invoke({"Records": [bad, good]}) == {"batchItemFailures": []}
    assert [r.message["event_id"] for r in await lab.drain(ALL)] == ["8B1111/L4/1"]
    (failed,) = await kept.drain()
    assert failed["sequence_number"] == "1000"
    assert (failed["event_id"], failed["stream_arn"]) == (bad["eventID"], arn)
    assert (failed["shard_id"], failed["tries"], failed["kept_by"]) == (None, 1, "publishStatusEvents")
    assert failed["reason"]
    assert len(json.dumps(failed)) < 2_000
    assert "208-444-5555" not in json.dumps(failed)


async def test_the_stream_function_without_a_failure_queue_reports_a_record_it_cannot_read(
    settings: Settings,
    stream_function: Callable[[Settings], Invoke],
    api: httpx.AsyncClient,
    lab: LabTopic,
) -> None:
    """Then Lambda's retries bring it to the on-failure destination; the records after it are published
    now, since at the end Lambda would send the rest of the batch there with it."""
    await create(api, service_id="L5")
    async with AsyncExitStack() as stack:
        arn, records = await _stream_records(settings, stack)
    (good,) = _as_lambda_delivers(arn, records)["Records"]
    bad = _unreadable("keys only", good)
    invoke = stream_function(settings)
    assert await invoke({"Records": [bad, good]}) == {"batchItemFailures": [{"itemIdentifier": "1000"}]}
    assert [r.message["event_id"] for r in await lab.drain(ALL)] == ["8B1111/L5/1"]


@contextmanager
def relay_process(settings: Settings, log: IO[str]) -> Iterator[subprocess.Popen[str]]:
    """The relay as its own process, configured only by its environment, as a container runs it."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL_DYNAMODB": str(settings.dynamodb_endpoint),
        "AWS_ENDPOINT_URL_SNS": str(settings.sns_endpoint),
        "AWS_REGION": settings.aws_region,
        "TABLE_NAME": settings.table_name,
        "IDEMPOTENCY_TABLE_NAME": settings.idempotency_table_name,
        "STATUS_TOPIC_ARN": TOPIC_ARN,
        "RELAY_POLL_SECONDS": "0.1",
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        as_run_here(RELAY_COMMAND), env=environment, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def _arrived(lab: LabTopic, received: list[Received], count: int) -> None:
    """Wait until `received` holds `count` messages of the queue of every update."""
    async with asyncio.timeout(60):
        while len(received) < count:
            received += await lab.drain(ALL)
            await asyncio.sleep(0.1)


async def _checkpointed(settings: Settings, sequences: int) -> None:
    """Wait until the relay's checkpoint names the last of `sequences` records of the stream (it writes
    it right after publishing): then it has nothing left to publish twice."""
    async with AsyncExitStack() as stack:
        dynamodb = await open_client(settings, stack)
        async with asyncio.timeout(60):
            while True:
                page = await dynamodb.scan(TableName=settings.idempotency_table_name)
                stored = [int(item["sequence"]["S"]) for item in page["Items"] if "sequence" in item]
                if stored and stored[0] >= _FIRST_SEQUENCE + sequences - 1:
                    return
                await asyncio.sleep(0.1)


# moto numbers a stream's records from here on.
_FIRST_SEQUENCE = 1100000000017454423009


async def test_a_relay_killed_and_started_again_loses_nothing_and_repeats_nothing(
    settings: Settings, api: httpx.AsyncClient, lab: LabTopic
) -> None:
    received: list[Received] = []
    await create(api, license_plate="7TRK001", service_id="R1")
    await api.patch("/requests/7TRK001/R1", json={"service_status": "Accepted"})
    with tempfile.TemporaryFile("w+") as log:
        with relay_process(settings, log) as relay:
            await _arrived(lab, received, 2)
            await _checkpointed(settings, 2)
            relay.kill()  # no chance to tidy up
            relay.wait()
        # While it is down: two status changes and an edit.
        await api.patch("/requests/7TRK001/R1", json={"service_status": "Completed"})
        await create(api, license_plate="7TRK001", service_id="R2")
        await api.patch("/requests/7TRK001/R2", json={"phone_number": "208-555-0100"})
        with relay_process(settings, log) as relay:
            await _arrived(lab, received, 4)
            await _checkpointed(settings, 5)
            await asyncio.sleep(0.5)  # five more polls: anything repeated would have come
            received += await lab.drain(ALL)
            relay.send_signal(signal.SIGTERM)
            assert relay.wait(timeout=30) == 0
        log.seek(0)
        output = log.read()
    assert sorted(r.message["event_id"] for r in received) == [
        "7TRK001/R1/1",
        "7TRK001/R1/2",
        "7TRK001/R1/3",
        "7TRK001/R2/1",
    ], output


async def test_watch_events_waits_out_a_quiet_queue_and_prints_what_comes(
    settings: Settings, lab: LabTopic
) -> None:
    out = io.StringIO()
    stop = asyncio.Event()
    async with AsyncExitStack() as stack:
        watcher = asyncio.create_task(watch(await open_sqs(settings, stack), ALL, out=out, stop=stop))
        await asyncio.sleep(7)  # longer than the SQS client waits for one answer: the watcher keeps on
        await lab.sns.publish(TopicArn=TOPIC_ARN, Subject="7", Message='{"service_status": "Completed"}')
        async with asyncio.timeout(30):
            while "Completed" not in out.getvalue():  # noqa: ASYNC110 - the watcher writes to a buffer
                await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(watcher, timeout=10)
    assert out.getvalue().splitlines() == [
        "watching AllStatusUpdatesQueue; Ctrl-C stops",
        'AllStatusUpdatesQueue  7  {"service_status": "Completed"}',
    ]


async def test_writes_made_elsewhere_and_mended_spellings_are_not_published(
    settings: Settings, api: httpx.AsyncClient, lab: LabTopic
) -> None:
    await create(api, service_id="E1")
    async with AsyncExitStack() as stack:
        dynamodb = await open_client(settings, stack)
        # The console changes the status (and nothing else); `audit --fix` mends its spelling.
        await dynamodb.update_item(
            TableName=settings.table_name,
            Key={"license_plate": {"S": "8B1111"}, "service_id": {"S": "E1"}},
            UpdateExpression="SET service_status = :s",
            ExpressionAttributeValues={":s": {"S": "accepted"}},
        )
        assert await audit(dynamodb, settings.table_name, fix=True, out=io.StringIO()) == 0
        assert (await api.get("/requests/8B1111/E1")).json()["service_status"] == "Accepted"
        relay = await _relay(settings, stack)
        assert await relay.catch_up() == 1
    assert [r.message["event_id"] for r in await lab.drain(ALL)] == ["8B1111/E1/1"]


async def _arriving(lab: LabTopic, count: int, *, within: float) -> list[Received]:
    """The messages of the queue of every update, once `count` have come."""
    received: list[Received] = []
    async with asyncio.timeout(within):
        while len(received) < count:
            received += await lab.drain(ALL)
            await asyncio.sleep(0.05)
    return received


async def test_an_item_written_elsewhere_with_a_huge_by_is_published_cut_and_holds_up_nothing(
    settings: Settings, api: httpx.AsyncClient, dynamodb: DynamoDBClient, lab: LabTopic, kept: Kept
) -> None:
    """Written as the console would, marked as a status change, with a `by` of 300 KB that SNS would refuse
    whole: it is published with `by` cut, and a request created after it is published within seconds."""
    by = "b" * 300_000
    entry = {"status": {"S": "Completed"}, "at": {"S": "2026-11-26T16:30:00.000Z"}, "by": {"S": by}}
    await dynamodb.put_item(
        TableName=settings.table_name,
        Item={
            "license_plate": {"S": "8B1111"},
            "service_id": {"S": "X1"},
            "service_status": {"S": "Completed"},
            "version": {"N": "1"},
            "status_changed": {"BOOL": True},
            "status_history": {"L": [{"M": entry}]},
        },
    )
    async with AsyncExitStack() as stack:
        relay = await _relay(settings, stack)
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await create(api, service_id="X2")
            received = await _arriving(lab, 2, within=20)
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=10)
    messages = {r.message["event_id"]: r.message for r in received}
    assert sorted(messages) == ["8B1111/X1/1", "8B1111/X2/1"]
    assert messages["8B1111/X1/1"]["changed_by"] == by[:TEXT_MOST]
    assert (relay.given_up, await kept.drain()) == (0, [])


def _refusing(sns: SNSClient, subject: str) -> list[str]:
    """Make SNS refuse every message with this subject, as it refuses one it cannot take (botocore raises
    the same ClientError); the messages refused, one per try."""
    refused: list[str] = []

    def refuse(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        body = params["body"]
        if body.get("Subject") != subject:
            return None
        refused.append(body["Message"])
        error = {
            "Type": "Sender",
            "Code": "InvalidParameter",
            "Message": "Invalid parameter: Message too long",
        }
        answer = AWSResponse(params["url"], 400, HTTPHeaders(), None)
        return answer, {"Error": error, "ResponseMetadata": {}}

    # botocore's stubs know only handlers that answer nothing; a before-call handler may answer the call.
    sns.meta.events.register("before-call.sns.Publish", refuse)  # type: ignore[arg-type]
    return refused


async def _shard(settings: Settings, stack: AsyncExitStack, arn: str) -> str:
    streams = await open_streams(settings, stack)
    (shard,) = (await streams.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
    return shard["ShardId"]


async def test_a_record_sns_keeps_refusing_is_kept_after_as_many_tries_as_lambda_makes_and_the_relay_goes_on(
    settings: Settings, api: httpx.AsyncClient, lab: LabTopic, kept: Kept, caplog: pytest.LogCaptureFixture
) -> None:
    await create(api, service_id="REFUSED")
    await create(api, service_id="AFTER")
    async with AsyncExitStack() as stack:
        arn, records = await _stream_records(settings, stack)
        shard_id = await _shard(settings, stack, arn)
        sns = await open_sns(settings, stack)
        refused = _refusing(sns, "REFUSED")
        relay = await _relay(settings, stack, sns=sns, poll_seconds=0.02)
        stop = asyncio.Event()
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="service.events.relay"):
            running = asyncio.create_task(relay.run(stop))
            try:
                received = await _arriving(lab, 1, within=30)
                took = time.monotonic() - started
                await asyncio.sleep(0.5)  # many more polls: nothing else comes, nothing is tried again
                received += await lab.drain(ALL)
            finally:
                stop.set()
                await asyncio.wait_for(running, timeout=10)
    assert [r.message["event_id"] for r in received] == ["8B1111/AFTER/1"]
    assert took < 15
    assert len(refused) == TRIES
    (failed,) = await kept.drain()
    first = records[0]
    assert {
        k: failed[k] for k in ("stream_arn", "shard_id", "sequence_number", "event_id", "keys", "tries")
    } == {
        "stream_arn": arn,
        "shard_id": shard_id,
        "sequence_number": first["dynamodb"]["SequenceNumber"],
        "event_id": first["eventID"],
        "keys": {"license_plate": "8B1111", "service_id": "REFUSED"},
        "tries": TRIES,
    }
    assert "8B1111/REFUSED/1" in failed["reason"]
    assert "InvalidParameter" in failed["reason"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert first["dynamodb"]["SequenceNumber"] in errors[0]
    assert shard_id in errors[0]


def _stripping(streams: DynamoDBStreamsClient, service_id: str) -> None:
    """Make the stream hand over the records of this request without their new image, as a stream of
    keys only would."""

    def strip(parsed: dict[str, Any], **_: Any) -> None:
        for record in parsed.get("Records", []):
            if record["dynamodb"]["Keys"]["service_id"]["S"] == service_id:
                record["dynamodb"].pop("NewImage", None)

    streams.meta.events.register("after-call.dynamodb-streams.GetRecords", strip)


async def test_the_relay_keeps_a_record_it_cannot_read_at_once_and_goes_on(
    settings: Settings, api: httpx.AsyncClient, lab: LabTopic, kept: Kept
) -> None:
    await create(api, service_id="BARE")
    await create(api, service_id="NEXT")
    async with AsyncExitStack() as stack:
        _, records = await _stream_records(settings, stack)
        streams = await open_streams(settings, stack)
        _stripping(streams, "BARE")
        relay = await _relay(settings, stack, streams=streams)
        assert await relay.catch_up() == 1
        assert await relay.catch_up() == 0
    assert [r.message["event_id"] for r in await lab.drain(ALL)] == ["8B1111/NEXT/1"]
    (failed,) = await kept.drain()
    assert (failed["sequence_number"], failed["tries"]) == (records[0]["dynamodb"]["SequenceNumber"], 1)
    assert failed["keys"] == {"license_plate": "8B1111", "service_id": "BARE"}
    assert "lacks the images" in failed["reason"]
    assert relay.given_up == 1


async def test_the_relay_against_aws_needs_the_failure_queue(settings: Settings) -> None:
    """It would otherwise have nowhere to keep what it cannot publish; a local SQS has the queue by name."""
    aws = settings.model_copy(update={"dynamodb_mode": "aws", "dynamodb_endpoint": None})
    async with AsyncExitStack() as stack:
        with pytest.raises(ConfigurationError, match="STATUS_FAILURES_QUEUE_URL"):
            await open_failure_queue(aws, stack)
