"""AWS clients from one aioboto3 session per process: endpoints and credentials from the settings."""

from __future__ import annotations

import functools
import platform
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import aioboto3
import aiobotocore
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from service.core.settings import AwsService, Settings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodbstreams import DynamoDBStreamsClient
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient


# The User-Agent of every call, set once. botocore's own is rebuilt twice for every call from a dozen
# sanitised parts (the SDK, OS, language, features in use): a fifth of the instructions of a GetItem.
# Given one (the `user_agent` option of botocore.config.Config), botocore sends it with only its session's
# extra (`botocore/VERSION`) appended.
USER_AGENT = f"vehicle-services aiobotocore/{aiobotocore.__version__} lang/python#{platform.python_version()}"


@functools.cache
def _session(region: str) -> aioboto3.Session:
    # One session per process and region: it caches botocore's service models, which every client
    # would otherwise load again (about 0.1 s each).
    return aioboto3.Session(region_name=region)


async def open_aws_client(
    settings: Settings, stack: AsyncExitStack, service: AwsService, *, config: Config | None = None
) -> Any:
    """A client of `service` configured from `settings`, closed when `stack` closes."""
    config = (config or Config()).merge(Config(user_agent=USER_AGENT))
    options: dict[str, Any] = {}
    endpoint = settings.endpoint(service)
    if endpoint is not None:
        # Explicit credentials: a local endpoint takes any, and botocore's chain would otherwise probe
        # the network for instance metadata.
        options["endpoint_url"] = endpoint
        options["aws_access_key_id"] = settings.aws_access_key_id
        options["aws_secret_access_key"] = settings.aws_secret_access_key.get_secret_value()
    client = _session(settings.aws_region).client(service, config=config, **options)
    return await stack.enter_async_context(client)


# SNS and the stream: a call that does not answer within these bounds is retried later, never waited on.
_EVENTS_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3}
)


async def open_sns(settings: Settings, stack: AsyncExitStack) -> SNSClient:
    client: SNSClient = await open_aws_client(settings, stack, "sns", config=_EVENTS_CONFIG)
    return client


async def open_streams(settings: Settings, stack: AsyncExitStack) -> DynamoDBStreamsClient:
    client: DynamoDBStreamsClient = await open_aws_client(
        settings, stack, "dynamodbstreams", config=_EVENTS_CONFIG
    )
    return client


async def open_sqs(settings: Settings, stack: AsyncExitStack) -> SQSClient:
    client: SQSClient = await open_aws_client(settings, stack, "sqs", config=_EVENTS_CONFIG)
    return client


# What a call of an AWS client raises when the service refuses it or cannot be reached. The events and local
# packages catch these here, so that botocore is imported only by the storage package.
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)


def error_code(exc: BaseException) -> str | None:
    """The error code AWS answered `exc` with; None for an error without an answer (no connection)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None
