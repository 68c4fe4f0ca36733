"""Items taken as JSON decodes them (service/storage/decoded_items.py): every read and write that returns
items gives what botocore's own parsing gives, with and without binary values, on the versions named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import pytest

from service.core.settings import Settings
from service.storage import decoded_items
from service.storage.backend import open_client
from service.storage.decoded_items import OPERATIONS, WRITTEN_FOR, take_items_as_decoded
from tests.support.written_for import assert_installed_as_written_for

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

PLATE = "TYPES 1"
# Every kind of value a console-made row may hold, texts that look like JSON's own syntax included.
TEXTS: dict[str, Any] = {
    "license_plate": {"S": PLATE},
    "service_id": {"S": "1"},
    "service_description": {"S": 'a "B" and a \\"quoted\\" {"S": "x"} é ü 🚗'},
    "version": {"N": "3"},
    "paid": {"BOOL": False},
    "completion_date": {"NULL": True},
    "tags": {"SS": ["brakes", "oil"]},
    "sizes": {"NS": ["1", "2.5"]},
    "status_history": {"L": [{"M": {"status": {"S": "New Request"}, "at": {"N": "1"}}}, {"S": "x"}]},
    "nested": {"M": {"deep": {"L": [{"M": {}}, {"L": []}, {"BOOL": True}]}}},
}
BINARY: dict[str, Any] = {
    "license_plate": {"S": PLATE},
    "service_id": {"S": "2"},
    "photo": {"B": b"\x00\xff\x10 not text"},
    "nested": {"M": {"scans": {"BS": [b"a", b"\x01\x02"]}}},
}


@pytest.fixture
async def clients(settings: Settings, table: str) -> AsyncIterator[tuple[DynamoDBClient, DynamoDBClient]]:
    """The service's client, and one opened alike whose answers botocore parses whole."""
    async with AsyncExitStack() as stack:
        decoded, parsed = await open_client(settings, stack), await open_client(settings, stack)
        for operation in OPERATIONS:
            parsed.meta.events.unregister(f"before-parse.dynamodb.{operation}", take_items_as_decoded)
        yield decoded, parsed


def _without_metadata(answer: Any) -> dict[str, Any]:
    return {name: value for name, value in answer.items() if name != "ResponseMetadata"}


@pytest.mark.parametrize("library", sorted(WRITTEN_FOR))
def test_the_installed_libraries_are_the_versions_the_handler_was_written_for(library: str) -> None:
    assert_installed_as_written_for(decoded_items, library)


@pytest.mark.parametrize("item", [TEXTS, BINARY], ids=["texts", "binary"])
async def test_every_answer_with_items_is_what_botocore_parses(
    clients: tuple[DynamoDBClient, DynamoDBClient], table: str, item: dict[str, Any]
) -> None:
    decoded, parsed = clients
    await parsed.put_item(TableName=table, Item=item)
    await parsed.put_item(TableName=table, Item={**item, "service_id": {"S": "9"}})
    key = {name: item[name] for name in ("license_plate", "service_id")}
    reads: dict[str, dict[str, Any]] = {
        "get_item": {"Key": key, "ConsistentRead": True},
        "query": {
            "KeyConditionExpression": "license_plate = :plate",
            "ExpressionAttributeValues": {":plate": {"S": PLATE}},
            "Limit": 1,  # so that the answer holds the last key read too
        },
        "scan": {},
    }
    for name, request in reads.items():
        answers = [await getattr(client, name)(TableName=table, **request) for client in clients]
        assert _without_metadata(answers[0]) == _without_metadata(answers[1]), name
    assert (await decoded.get_item(TableName=table, Key=key))["Item"]["license_plate"] == {"S": PLATE}

    as_stored = (await parsed.get_item(TableName=table, Key=key, ConsistentRead=True))["Item"]
    updated = await decoded.update_item(
        TableName=table, Key=key, UpdateExpression="SET seen = :yes",
        ExpressionAttributeValues={":yes": {"BOOL": True}}, ReturnValues="ALL_NEW",
    )  # fmt: skip
    assert updated["Attributes"] == {**as_stored, "seen": {"BOOL": True}}
    replaced = await decoded.put_item(TableName=table, Item=item, ReturnValues="ALL_OLD")
    assert replaced["Attributes"] == {**as_stored, "seen": {"BOOL": True}}
    deleted = await decoded.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")
    assert deleted["Attributes"] == as_stored
    assert "Item" not in await decoded.get_item(TableName=table, Key=key, ConsistentRead=True)


async def test_botocore_parses_what_is_left_and_answers_with_a_binary_value_whole(
    clients: tuple[DynamoDBClient, DynamoDBClient], table: str
) -> None:
    decoded, _ = clients
    parsed_bodies: list[bytes] = []

    def note(response_dict: dict[str, Any], **_: Any) -> None:
        parsed_bodies.append(response_dict["body"])  # what botocore's parser is given, after the handler

    decoded.meta.events.register("before-parse.dynamodb.Query", note)
    for item in (TEXTS, BINARY):
        await decoded.put_item(TableName=table, Item=item)
        answer = await decoded.query(
            TableName=table,
            KeyConditionExpression="license_plate = :plate AND service_id = :id",
            ExpressionAttributeValues={":plate": {"S": PLATE}, ":id": item["service_id"]},
            ReturnConsumedCapacity="TOTAL",
        )
        assert answer["Count"] == 1
        assert answer["Items"][0]["service_id"] == item["service_id"]
    without_binary, with_binary = parsed_bodies
    assert b"Items" not in without_binary
    assert b'"Count"' in without_binary
    assert b"ConsumedCapacity" in without_binary
    assert b'"Items"' in with_binary
    assert answer["Items"][0]["photo"] == {"B": BINARY["photo"]["B"]}


def test_an_answer_that_is_not_items_is_left_to_botocore() -> None:
    for response in (
        {"status_code": 400, "body": b'{"__type": "x", "Item": {"a": {"S": "b"}}}'},
        {"status_code": 200, "body": b"<html>a proxy's page</html>"},
        {"status_code": 200, "body": b'["Items"]'},
        {"status_code": 200, "body": b'{"Count": 0}'},
    ):
        before, customized = dict(response), dict[str, Any]()
        take_items_as_decoded(response, customized)
        assert response == before
        assert customized == {}
