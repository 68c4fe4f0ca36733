"""The course's module 8 set up by hand, as the lab does it in the console, and what reaches its queues."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from service.core.settings import Settings
from service.local.lab_queues import queue_arn, topic_may_send
from service.storage.aws import open_sns, open_sqs

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient

# moto's account, in which the lab's topic gets this ARN.
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:VehicleStatus"
ALL = "AllStatusUpdatesQueue"
COMPLETED = "VehicleCompletedQueue"


@dataclass(frozen=True)
class Received:
    """One message as a queue holds it: SNS's envelope opened."""

    subject: str
    message: dict[str, Any]
    attributes: dict[str, str]


@dataclass
class LabTopic:
    sns: SNSClient
    sqs: SQSClient
    queue_urls: dict[str, str]

    async def drain(self, queue: str) -> list[Received]:
        """Every message in `queue` now, taken off it."""
        received: list[Received] = []
        while True:
            response = await self.sqs.receive_message(
                QueueUrl=self.queue_urls[queue], MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = response.get("Messages", [])
            if not messages:
                return received
            for message in messages:
                envelope = json.loads(message["Body"])
                received.append(
                    Received(
                        subject=envelope["Subject"],
                        message=json.loads(envelope["Message"]),
                        attributes={k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                    )
                )
                await self.sqs.delete_message(
                    QueueUrl=self.queue_urls[queue], ReceiptHandle=message["ReceiptHandle"]
                )


def with_events(settings: Settings, endpoint: str) -> Settings:
    """`settings` publishing to the lab's topic, with SNS and SQS on the tests' moto server."""
    return settings.model_copy(
        update={
            "status_topic_arn": TOPIC_ARN,
            "sns_endpoint": endpoint,
            "sqs_endpoint": endpoint,
            "relay_poll_seconds": 0.1,
        }
    )


@asynccontextmanager
async def module_8(settings: Settings) -> AsyncIterator[LabTopic]:
    """The topic VehicleStatus and its two standard queues, subscribed as the lab subscribes them (the
    queue's access policy for the topic, then the filter policy set on the completed queue's subscription);
    all deleted afterwards."""
    async with AsyncExitStack() as stack:
        sns, sqs = await open_sns(settings, stack), await open_sqs(settings, stack)
        topic_arn = (await sns.create_topic(Name="VehicleStatus"))["TopicArn"]
        assert topic_arn == TOPIC_ARN
        urls = {}
        for queue in (ALL, COMPLETED):
            url = urls[queue] = (await sqs.create_queue(QueueName=queue))["QueueUrl"]
            arn = await queue_arn(sqs, url)
            await sqs.set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": topic_may_send(arn, topic_arn)}
            )
            subscription = await sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
            if queue == COMPLETED:
                await sns.set_subscription_attributes(
                    SubscriptionArn=subscription["SubscriptionArn"],
                    AttributeName="FilterPolicy",
                    AttributeValue=json.dumps({"service_status": ["Completed"]}),
                )
        try:
            yield LabTopic(sns, sqs, urls)
        finally:
            await sns.delete_topic(TopicArn=topic_arn)
            for url in urls.values():
                await sqs.delete_queue(QueueUrl=url)
