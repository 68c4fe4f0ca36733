"""The tables' layout: VehicleServices exactly as the lab creates it, its StatusIndex, and the table of
Idempotency-Key records; creating them, and checking an existing one."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from service.storage import idempotency

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.literals import ScalarAttributeTypeType
    from types_aiobotocore_dynamodb.type_defs import (
        CreateTableInputTypeDef,
        KeySchemaElementTypeDef,
        StreamSpecificationTypeDef,
        TableDescriptionTypeDef,
    )

    from service.core.settings import Settings

log = logging.getLogger(__name__)

STATUS_INDEX = "StatusIndex"
# A request's status history: a list of {status, at, by} maps, oldest first.
HISTORY = "status_history"
# Set by every write of the service: whether it created the request or changed its status. The stream's
# readers publish exactly such writes (the Lambda function's event filter matches it).
STATUS_CHANGED = "status_changed"
# The attributes of a position in the table, and in StatusIndex (its own key and the table's).
TABLE_KEY = frozenset({"license_plate", "service_id"})
INDEX_KEY = TABLE_KEY | {"service_status"}

KEY_SCHEMA: list[KeySchemaElementTypeDef] = [
    {"AttributeName": "license_plate", "KeyType": "HASH"},
    {"AttributeName": "service_id", "KeyType": "RANGE"},
]
INDEX_KEY_SCHEMA: list[KeySchemaElementTypeDef] = [
    {"AttributeName": "service_status", "KeyType": "HASH"},
    {"AttributeName": "license_plate", "KeyType": "RANGE"},
]
# The stream the status-change events are read from: every write, with the item before and after it.
STREAM: StreamSpecificationTypeDef = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
# Creating a table with an index takes minutes on AWS at worst; give up after that.
_ACTIVE_WITHIN_SECONDS = 600
ATTRIBUTE_TYPES: dict[str, ScalarAttributeTypeType] = {
    "license_plate": "S",
    "service_id": "S",
    "service_status": "S",
}


class SchemaMismatch(Exception):
    """An existing table differs from the lab's VehicleServices layout."""

    def __init__(self, table_name: str, differences: list[str]) -> None:
        super().__init__(f"table {table_name} does not match the expected layout: " + "; ".join(differences))
        self.differences = differences


def _keys(schema: Any) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema or []]


def schema_differences(table: TableDescriptionTypeDef, *, stream: bool = False) -> list[str]:
    """What keeps an existing table from being the lab's VehicleServices (empty when it is), with its
    stream of new and old images when `stream`."""
    differences = []
    if stream:
        specification = table.get("StreamSpecification", {})
        if not specification.get("StreamEnabled"):
            differences.append("it has no stream (this DynamoDB implementation may have none)")
        elif specification.get("StreamViewType") != STREAM["StreamViewType"]:
            differences.append(
                f"its stream carries {specification.get('StreamViewType')}, "
                f"expected {STREAM['StreamViewType']}"
            )
    if _keys(table.get("KeySchema")) != _keys(KEY_SCHEMA):
        differences.append(f"key schema is {_keys(table.get('KeySchema'))}, expected {_keys(KEY_SCHEMA)}")
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
    for name, expected in ATTRIBUTE_TYPES.items():
        if name in types and types[name] != expected:
            differences.append(f"attribute {name} has type {types[name]}, expected {expected}")
    indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    index = indexes.get(STATUS_INDEX)
    if index is None:
        differences.append(f"global secondary index {STATUS_INDEX} is missing")
    else:
        if _keys(index.get("KeySchema")) != _keys(INDEX_KEY_SCHEMA):
            differences.append(
                f"{STATUS_INDEX} key schema is {_keys(index.get('KeySchema'))}, "
                f"expected {_keys(INDEX_KEY_SCHEMA)}"
            )
        projection = index.get("Projection", {}).get("ProjectionType")
        if projection != "ALL":
            differences.append(f"{STATUS_INDEX} projects {projection}, expected ALL")
    return differences


async def _wait_active(client: DynamoDBClient, table_name: str) -> TableDescriptionTypeDef:
    """Poll until the table and every index are ACTIVE (botocore's waiter looks at the table alone)."""
    while True:
        table = (await client.describe_table(TableName=table_name))["Table"]
        statuses = [table.get("TableStatus")] + [
            i.get("IndexStatus") for i in table.get("GlobalSecondaryIndexes", [])
        ]
        if all(s == "ACTIVE" for s in statuses):
            return table
        log.info("waiting for table %s to be ACTIVE: %s", table_name, statuses)
        await asyncio.sleep(1)


async def _create_and_wait(
    client: DynamoDBClient, table: CreateTableInputTypeDef
) -> tuple[TableDescriptionTypeDef, bool]:
    """Create `table` unless it exists, wait until it is ACTIVE; its description, and whether created."""
    created = False
    try:
        await client.create_table(**table)
        created = True
        log.info("creating table %s", table["TableName"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    async with asyncio.timeout(_ACTIVE_WITHIN_SECONDS):
        return await _wait_active(client, table["TableName"]), created


async def ensure_table(client: DynamoDBClient, table_name: str, *, stream: bool = False) -> bool:
    """Create the table unless it exists, then wait for it; True when this call created it.

    An existing table is checked, never changed, but for its stream: with `stream`, the table's stream
    of new and old images (what the status-change events are read from) is turned on unless it is. A
    different layout, or a stream of other images, raises SchemaMismatch.
    """
    table, created = await _create_and_wait(
        client,
        {
            "TableName": table_name,
            "KeySchema": KEY_SCHEMA,
            "AttributeDefinitions": [
                {"AttributeName": n, "AttributeType": t} for n, t in ATTRIBUTE_TYPES.items()
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": STATUS_INDEX,
                    "KeySchema": INDEX_KEY_SCHEMA,
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            "BillingMode": "PAY_PER_REQUEST",
            **({"StreamSpecification": STREAM} if stream else {}),  # type: ignore[typeddict-item]
        },
    )
    if stream and not table.get("StreamSpecification", {}).get("StreamEnabled"):
        log.info("turning on the stream of table %s", table_name)
        try:
            await client.update_table(TableName=table_name, StreamSpecification=STREAM)
        except ClientError as exc:
            # An implementation without streams (dynalite) refuses; the check below says so.
            log.warning("the stream of %s cannot be turned on: %s", table_name, exc)
        async with asyncio.timeout(_ACTIVE_WITHIN_SECONDS):
            table = await _wait_active(client, table_name)
    differences = schema_differences(table, stream=stream)
    if differences:
        raise SchemaMismatch(table_name, differences)
    billing = table.get("BillingModeSummary", {}).get("BillingMode")
    if not created and billing not in (None, "PAY_PER_REQUEST"):
        log.warning("table %s uses %s billing; the lab uses on-demand", table_name, billing)
    return created


async def ensure_idempotency_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the table of Idempotency-Key records unless it exists, with expiry by TTL; check it."""
    table, _ = await _create_and_wait(
        client,
        {
            "TableName": table_name,
            "KeySchema": idempotency.KEY_SCHEMA,
            "AttributeDefinitions": [{"AttributeName": idempotency.KEY_ATTRIBUTE, "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    if _keys(table.get("KeySchema")) != _keys(idempotency.KEY_SCHEMA):
        raise SchemaMismatch(
            table_name,
            [f"key schema is {_keys(table.get('KeySchema'))}, expected {_keys(idempotency.KEY_SCHEMA)}"],
        )
    try:
        await client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": idempotency.TTL_ATTRIBUTE},
        )
    except ClientError as exc:
        # Already on (ValidationException), or a local implementation without TTL: records then stay,
        # and the service treats an expired one as absent all the same.
        log.info(
            "time to live on %s left as it is: %s", table_name, exc.response.get("Error", {}).get("Code")
        )


async def ensure_tables(client: DynamoDBClient, settings: Settings) -> bool:
    """Both tables the service uses, the first with its stream when events are published (a topic is
    set); True when this call created the service-request table."""
    created = await ensure_table(client, settings.table_name, stream=settings.status_topic_arn is not None)
    await ensure_idempotency_table(client, settings.idempotency_table_name)
    return created
