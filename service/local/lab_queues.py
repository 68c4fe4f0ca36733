"""The lab's topic and queues (the course's module 8), for local use: the `VehicleStatus` topic, the queue
of every status update and the queue of completed ones behind the lab's filter policy; and watching one."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import TYPE_CHECKING, TextIO

from service.storage.aws import AWS_ERRORS

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient

log = logging.getLogger(__name__)

TOPIC = "VehicleStatus"
ALL_QUEUE = "AllStatusUpdatesQueue"
COMPLETED_QUEUE = "VehicleCompletedQueue"
# The queues, each with the filter policy of its subscription (None: every message).
QUEUES: dict[str, dict[str, list[str]] | None] = {
    ALL_QUEUE: None,
    COMPLETED_QUEUE: {"service_status": ["Completed"]},
}


async def queue_arn(sqs: SQSClient, queue_url: str) -> str:
    attributes = await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def topic_may_send(queue_arn: str, topic_arn: str) -> str:
    """The queue's access policy that lets the topic send to it."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
    )


async def ensure_lab_topic(sns: SNSClient, sqs: SQSClient) -> str:
    """Create the topic and the queues unless they exist, each queue subscribed to the topic and letting
    it send (the console's "Subscribe to Amazon SNS topic" does both); the topic's ARN. Idempotent."""
    topic_arn = (await sns.create_topic(Name=TOPIC))["TopicArn"]
    for name, filter_policy in QUEUES.items():
        url = (await sqs.create_queue(QueueName=name))["QueueUrl"]
        arn = await queue_arn(sqs, url)
        await sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": topic_may_send(arn, topic_arn)})
        attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
        # Subscribing the same queue again answers the subscription it has.
        await sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    log.info("topic %s with queues %s", topic_arn, ", ".join(QUEUES))
    return topic_arn


def describe(queue: str, body: str) -> str:
    """One line for a message from a queue: SNS's envelope opened to its subject and message."""
    try:
        envelope = json.loads(body)
        return f"{queue}  {envelope['Subject']}  {envelope['Message']}"
    except (ValueError, KeyError, TypeError):
        return f"{queue}  {body}"


async def watch(
    sqs: SQSClient, queue: str, *, out: TextIO = sys.stdout, stop: asyncio.Event | None = None
) -> None:
    """Print each message that reaches `queue` as it comes, and take it off the queue, until `stop`."""
    url = (await sqs.get_queue_url(QueueName=queue))["QueueUrl"]
    print(f"watching {queue}; Ctrl-C stops", file=out, flush=True)
    while stop is None or not stop.is_set():
        try:
            # Long polling, shorter than the client's read timeout (service.storage.aws).
            response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2)
        except AWS_ERRORS as exc:
            log.warning("the queue did not answer (%s); asking again", type(exc).__name__)
            await asyncio.sleep(1)
            continue
        for received in response.get("Messages", []):
            print(describe(queue, received["Body"]), file=out, flush=True)
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=received["ReceiptHandle"])
