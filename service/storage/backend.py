"""One long-lived DynamoDB client per process, opened on first use and closed once."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from botocore.config import Config

from service.core.clock import Clock, wall_clock
from service.core.settings import Settings
from service.storage.aws import open_aws_client
from service.storage.cursors import CursorCodec
from service.storage.decoded_items import read_items_as_decoded
from service.storage.pooled_connections import drop_idle
from service.storage.repository import Repository
from service.storage.submissions import Submissions

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

# Connections to DynamoDB kept open per process, and so DynamoDB calls in flight at once.
MAX_CONNECTIONS = 64


async def open_client(settings: Settings, stack: AsyncExitStack) -> DynamoDBClient:
    """A DynamoDB client configured from `settings`, closed when `stack` closes."""
    config = Config(
        # botocore's default of 10 connections queues the 11th concurrent call (a busy server, or a
        # handful of concurrent public lists of six Queries each) for about a second under load.
        max_pool_connections=MAX_CONNECTIONS,
        connect_timeout=settings.dynamodb_connect_timeout,
        read_timeout=settings.dynamodb_read_timeout,
        retries={"mode": "standard", "total_max_attempts": settings.dynamodb_max_attempts},
    )
    client: DynamoDBClient = await open_aws_client(settings, stack, "dynamodb", config=config)
    read_items_as_decoded(client)
    return client


class Backend:
    """Hands out the process's Repository, creating its client once, on first use."""

    def __init__(self, settings: Settings, *, clock: Clock = wall_clock) -> None:
        self._settings = settings
        self._clock = clock
        self._cursors = CursorCodec(settings.cursor_secret.get_secret_value().encode("utf-8"))
        self._stack = AsyncExitStack()
        self._repository: Repository | None = None
        self._submissions: Submissions | None = None
        self._client: DynamoDBClient | None = None
        self._lock = asyncio.Lock()
        self.clients_opened = 0

    async def repository(self) -> Repository:
        if self._repository is None:
            async with self._lock:
                if self._repository is None:
                    client = self._client = await open_client(self._settings, self._stack)
                    self.clients_opened += 1
                    repository = Repository(
                        client,
                        self._settings.table_name,
                        self._cursors,
                        idempotency_table=self._settings.idempotency_table_name,
                        deadline=self._settings.dynamodb_deadline,
                    )
                    self._submissions = Submissions(
                        repository,
                        client,
                        idempotency_table=self._settings.idempotency_table_name,
                        idempotency_ttl=self._settings.idempotency_ttl_seconds,
                        duplicate_window=self._settings.duplicate_window_seconds,
                        public_create_limit=self._settings.public_create_limit,
                        public_create_window=self._settings.public_create_window_seconds,
                        deadline=self._settings.dynamodb_deadline,
                        clock=self._clock,
                    )
                    self._repository = repository
                    log.info(
                        "DynamoDB client ready: table %s, %s",
                        self._settings.table_name,
                        self._settings.dynamodb_endpoint or f"AWS {self._settings.aws_region}",
                    )
        return self._repository

    async def submissions(self) -> Submissions:
        """The process's creates-once, through its repository (opened if need be)."""
        await self.repository()
        assert self._submissions is not None
        return self._submissions

    async def client(self) -> DynamoDBClient:
        """The process's DynamoDB client (opened if need be): tools hook into its botocore events."""
        await self.repository()
        assert self._client is not None
        return self._client

    async def drop_connections(self) -> None:
        """Close the connections the client keeps for reuse and forget the addresses it resolved (a copy
        restored from a snapshot finds them dead, or stale), keeping the pool itself: its TLS context takes
        tens of milliseconds to build. The next call connects anew."""
        if self._client is not None:
            drop_idle(self._client)

    async def aclose(self) -> None:
        self._repository = self._client = self._submissions = None
        await self._stack.aclose()
