"""The benchmarks' table: the service's settings and a client for it, and realistic service requests to load
into it with BatchWriteItem."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ulid import ULID

from service.core.models import ACTIVE_STATUSES, Status
from service.core.settings import Settings
from service.storage.backend import open_client
from service.storage.tables import ensure_tables

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef, WriteRequestTypeDef

REGION = "us-east-1"
TABLE = "VehicleServices"

_DESCRIPTIONS = (
    "Oil change and tire rotation on a 2014 Honda Civic; the customer asks for synthetic oil.",
    "Brakes squeal when stopping at low speed. Please check the front pads and rotors.",
    "Check engine light came on after filling up. Customer would like a diagnosis and a quote first.",
    "Air conditioning blows warm air on hot days; recharge the system and check for leaks.",
    "Replace the serpentine belt and inspect the water pump, which the last shop said was weeping.",
    "Annual inspection, wiper blades and a cabin air filter for a 2019 Subaru Outback.",
    "Car pulls to the right on the highway. Alignment, and a look at the steering rack if needed.",
    "Battery dies overnight when the car sits for two days. Test the battery and the alternator.",
)


def bench_settings(endpoint: str, **overrides: Any) -> Settings:
    """The service's settings against the benchmark's DynamoDB server; no token checks: every caller a
    technician. The public list is read every time: these benchmarks measure its Queries (bench.abuse
    measures its copy)."""
    values: dict[str, Any] = {
        "dynamodb_mode": "endpoint",
        "dynamodb_endpoint": endpoint,
        "aws_region": REGION,
        "table_name": TABLE,
        "auth_mode": "none",
        "cursor_secret": "benchmark-cursor-secret",
        "log_level": "WARNING",
        "dynamodb_read_timeout": 30.0,
        "public_list_cache_seconds": 0.0,
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def table_client(endpoint: str) -> AsyncIterator[DynamoDBClient]:
    """A DynamoDB client on the benchmark's table, created with the service's own layout if missing (and
    the table of Idempotency-Key records beside it)."""
    settings = bench_settings(endpoint)
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        await ensure_tables(client, settings)
        yield client


class Requests:
    """Realistic service requests (250 to 400 bytes each), reproducible from a seed."""

    def __init__(self, seed: int = 20261126) -> None:
        self._rng = random.Random(seed)  # noqa: S311 (test data, reproducible on purpose)
        self._start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

    def plate(self) -> str:
        letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
        r = self._rng
        return f"{r.randint(1, 9)}{''.join(r.choice(letters) for _ in range(3))}{r.randint(100, 999)}"

    def phone(self) -> str:
        return f"{self._rng.randint(200, 989)}-555-{self._rng.randint(0, 9999):04d}"

    def description(self) -> str:
        return self._rng.choice(_DESCRIPTIONS)

    def item(self, status: Status) -> dict[str, AttributeValueTypeDef]:
        created = self._start + timedelta(minutes=self._rng.randint(0, 400_000))
        updated = created + timedelta(hours=self._rng.randint(0, 72))
        stamp = int(created.timestamp() * 1000)
        item: dict[str, AttributeValueTypeDef] = {
            "license_plate": {"S": self.plate()},
            "service_id": {"S": str(ULID.from_timestamp(stamp / 1000))},
            "phone_number": {"S": self.phone()},
            "service_description": {"S": self.description()},
            "service_status": {"S": status.value},
            "created_at": {"S": created.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
            "updated_at": {"S": updated.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
            "version": {"N": str(self._rng.randint(1, 6))},
        }
        if status is Status.COMPLETED:
            item["completion_date"] = item["updated_at"]
        return item

    def active(self, count: int) -> list[dict[str, AttributeValueTypeDef]]:
        """`count` requests spread evenly over the active statuses."""
        return [self.item(ACTIVE_STATUSES[i % len(ACTIVE_STATUSES)]) for i in range(count)]

    def inactive(self, count: int) -> list[dict[str, AttributeValueTypeDef]]:
        """`count` requests, about four in five Completed, the rest New Request."""
        return [
            self.item(Status.COMPLETED if self._rng.random() < 0.8 else Status.NEW_REQUEST)
            for _ in range(count)
        ]


def item_size(item: dict[str, AttributeValueTypeDef]) -> int:
    """DynamoDB's item size: attribute names plus their string or number values, in UTF-8 bytes."""
    return sum(
        len(name.encode()) + len(str(value.get("S", value.get("N", ""))).encode())
        for name, value in item.items()
    )


async def load(
    client: DynamoDBClient, items: Sequence[dict[str, AttributeValueTypeDef]], *, concurrency: int = 8
) -> float:
    """Write `items` with BatchWriteItem, 25 a call, `concurrency` calls in flight; the seconds it took."""
    batches = [items[i : i + 25] for i in range(0, len(items), 25)]
    queue: asyncio.Queue[Sequence[dict[str, AttributeValueTypeDef]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def worker() -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            writes: list[WriteRequestTypeDef] = [{"PutRequest": {"Item": item}} for item in batch]
            for _attempt in range(10):
                response = await client.batch_write_item(RequestItems={TABLE: writes})
                writes = list(response.get("UnprocessedItems", {}).get(TABLE, []))  # type: ignore[arg-type]
                if not writes:
                    break
                await asyncio.sleep(0.05)
            else:
                raise SystemExit("BatchWriteItem kept leaving items unprocessed")

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return time.perf_counter() - started
