"""The table command: the lab's exact layout, idempotent, and hands off a table laid out otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from service.core.settings import Settings
from service.storage.tables import SchemaMismatch, ensure_table
from tests.conftest import SERVER
from tests.support.process import INIT_TABLE_COMMAND

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


def run_cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m service ARGS` in a fresh process configured only through the environment."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ENDPOINT_URL_DYNAMODB": settings.dynamodb_endpoint or "",
        "AWS_REGION": settings.aws_region,
        "TABLE_NAME": settings.table_name,
        "AWS_EC2_METADATA_DISABLED": "true",
        **env,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "service", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_init_table_creates_the_labs_layout(settings: Settings, dynamodb: DynamoDBClient) -> None:
    result = run_cli(settings, "init-table")
    assert result.returncode == 0, result.stderr
    table = (await dynamodb.describe_table(TableName=settings.table_name))["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "license_plate", "KeyType": "HASH"},
        {"AttributeName": "service_id", "KeyType": "RANGE"},
    ]
    assert sorted((a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]) == [
        ("license_plate", "S"),
        ("service_id", "S"),
        ("service_status", "S"),
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "StatusIndex"
    assert index["KeySchema"] == [
        {"AttributeName": "service_status", "KeyType": "HASH"},
        {"AttributeName": "license_plate", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert table["TableStatus"] == "ACTIVE"

    again = run_cli(settings, "init-table")
    assert again.returncode == 0, again.stderr
    assert "exists with the expected layout" in again.stderr
    await dynamodb.delete_table(TableName=settings.table_name)


async def test_ensure_table_reports_whether_it_created(settings: Settings, dynamodb: DynamoDBClient) -> None:
    assert await ensure_table(dynamodb, settings.table_name) is True
    assert await ensure_table(dynamodb, settings.table_name) is False
    await dynamodb.delete_table(TableName=settings.table_name)


async def test_init_table_refuses_a_table_laid_out_otherwise_and_touches_nothing(
    settings: Settings, dynamodb: DynamoDBClient
) -> None:
    await dynamodb.create_table(
        TableName=settings.table_name,
        KeySchema=[{"AttributeName": "license_plate", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "license_plate", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    before = (await dynamodb.describe_table(TableName=settings.table_name))["Table"]

    result = run_cli(settings, "init-table")

    assert result.returncode == 1
    assert "key schema is [('license_plate', 'HASH')]" in result.stderr
    assert "global secondary index StatusIndex is missing" in result.stderr
    after = (await dynamodb.describe_table(TableName=settings.table_name))["Table"]
    assert after == before
    with pytest.raises(SchemaMismatch):
        await ensure_table(dynamodb, settings.table_name)
    await dynamodb.delete_table(TableName=settings.table_name)


async def test_a_wrong_index_key_is_named(settings: Settings, dynamodb: DynamoDBClient) -> None:
    await dynamodb.create_table(
        TableName=settings.table_name,
        KeySchema=[
            {"AttributeName": "license_plate", "KeyType": "HASH"},
            {"AttributeName": "service_id", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "license_plate", "AttributeType": "S"},
            {"AttributeName": "service_id", "AttributeType": "S"},
            {"AttributeName": "service_status", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "StatusIndex",
                "KeySchema": [{"AttributeName": "service_status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(SchemaMismatch) as caught:
        await ensure_table(dynamodb, settings.table_name)
    assert caught.value.differences == [
        "StatusIndex key schema is [('service_status', 'HASH')], "
        "expected [('service_status', 'HASH'), ('license_plate', 'RANGE')]",
        "StatusIndex projects KEYS_ONLY, expected ALL",
    ]
    await dynamodb.delete_table(TableName=settings.table_name)


async def test_seed_command_adds_the_lab_rows_once(settings: Settings, dynamodb: DynamoDBClient) -> None:
    assert run_cli(settings, "init-table").returncode == 0
    first = run_cli(settings, "seed")
    assert first.returncode == 0, first.stderr
    assert "seeded 8B1111/1, 1J1957/2" in first.stderr
    second = run_cli(settings, "seed")
    assert "seeded nothing" in second.stderr
    assert (await dynamodb.scan(TableName=settings.table_name, Select="COUNT"))["Count"] == 2
    await dynamodb.delete_table(TableName=settings.table_name)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AWS_ENDPOINT_URL_DYNAMODB": ""}, "no DynamoDB configured"),
        ({"DYNAMODB_MODE": "aws"}, "contradicts AWS_ENDPOINT_URL_DYNAMODB"),
        ({"AWS_ENDPOINT_URL_DYNAMODB": "", "DYNAMODB_MODE": "embedded"}, "needs a DynamoDB that outlives it"),
    ],
)
def test_cli_refuses_unclear_configuration(settings: Settings, env: dict[str, str], message: str) -> None:
    result = run_cli(settings, "init-table", **env)
    assert result.returncode == 2
    assert message in result.stderr


async def test_init_table_seed_loads_the_lab_rows_only_into_a_table_it_created(
    settings: Settings, dynamodb: DynamoDBClient
) -> None:
    """What the compose init step runs on every `up`: rows deleted since then stay deleted."""
    first = run_cli(settings, *INIT_TABLE_COMMAND[3:])
    assert first.returncode == 0, first.stderr
    assert "seeded 8B1111/1, 1J1957/2" in first.stderr
    await dynamodb.delete_item(
        TableName=settings.table_name,
        Key={"license_plate": {"S": "8B1111"}, "service_id": {"S": "1"}},
    )

    again = run_cli(settings, *INIT_TABLE_COMMAND[3:])

    assert again.returncode == 0, again.stderr
    assert "exists with the expected layout" in again.stderr
    assert "not seeding" in again.stderr
    assert (await dynamodb.scan(TableName=settings.table_name, Select="COUNT"))["Count"] == 1
    await dynamodb.delete_table(TableName=settings.table_name)


TOPIC = {"STATUS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:VehicleStatus"}


@pytest.mark.moto_only("dynalite has no streams")
async def test_init_table_turns_the_stream_on_only_when_events_are_published(
    settings: Settings, dynamodb: DynamoDBClient
) -> None:
    without = run_cli(settings, "init-table")
    assert without.returncode == 0, without.stderr
    table = (await dynamodb.describe_table(TableName=settings.table_name))["Table"]
    assert not table.get("StreamSpecification", {}).get("StreamEnabled")

    existing = run_cli(settings, "init-table", **TOPIC)
    assert existing.returncode == 0, existing.stderr
    assert "turning on the stream" in existing.stderr
    table = (await dynamodb.describe_table(TableName=settings.table_name))["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["LatestStreamArn"]
    await dynamodb.delete_table(TableName=settings.table_name)

    created = run_cli(settings, "init-table", **TOPIC)
    assert created.returncode == 0, created.stderr
    table = (await dynamodb.describe_table(TableName=settings.table_name))["Table"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    await dynamodb.delete_table(TableName=settings.table_name)


@pytest.mark.skipif(SERVER != "dynalite", reason="needs a DynamoDB implementation without streams")
async def test_init_table_says_so_where_there_can_be_no_stream(
    settings: Settings, dynamodb: DynamoDBClient
) -> None:
    result = run_cli(settings, "init-table", **TOPIC)
    assert result.returncode == 1
    assert "it has no stream" in result.stderr
    await dynamodb.delete_table(TableName=settings.table_name)
