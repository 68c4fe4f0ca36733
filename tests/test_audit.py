"""`python -m service audit`: every kind of odd row is reported; `--fix` mends statuses safely, once."""

from __future__ import annotations

import asyncio
import io
import os
from typing import TYPE_CHECKING, Any

import httpx

from service.audit import audit, inspect
from service.models import Status
from service.settings import Settings
from tests.helpers import put_raw
from tests.process import as_run_here

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef


async def _seed_odd_rows(dynamodb: DynamoDBClient, table: str) -> None:
    """One row of each kind the lists cannot show or address well, and one well-formed row."""
    rows = {
        ("NOSTATUS", "1"): {},
        ("LOWER", "2"): {"service_status": "accepted"},
        ("SPACED", "3"): {"service_status": "Being Serviced "},
        ("UNKNOWN", "4"): {"service_status": "On hold"},
        ("abc 123 ", "5"): {"service_status": "Accepted"},
        ("IDSPACE", " 6"): {"service_status": "Accepted"},
        ("FINE", "8"): {"service_status": "Accepted"},
    }
    for (plate, service_id), attributes in rows.items():
        await put_raw(
            dynamodb,
            table,
            license_plate=plate,
            service_id=service_id,
            phone_number="208-555-0100",
            **attributes,
        )
    await dynamodb.put_item(
        TableName=table,
        Item={
            "license_plate": {"S": "NUMBER"},
            "service_id": {"S": "7"},
            "phone_number": {"N": "2085550100"},
            "service_status": {"S": "Accepted"},
        },
    )


async def _items(dynamodb: DynamoDBClient, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await dynamodb.scan(TableName=table, ConsistentRead=True))["Items"]
    return sorted(items, key=lambda i: (i["license_plate"]["S"], i["service_id"]["S"]))


async def _audit(dynamodb: DynamoDBClient, table: str, *, fix: bool) -> tuple[int, str]:
    out = io.StringIO()
    status = await audit(dynamodb, table, fix=fix, out=out)
    return status, out.getvalue()


async def test_audit_reports_each_kind_of_odd_row_and_changes_nothing(
    dynamodb: DynamoDBClient, table: str
) -> None:
    await _seed_odd_rows(dynamodb, table)
    before = await _items(dynamodb, table)
    status, report = await _audit(dynamodb, table, fix=False)
    assert status == 1
    lines = report.splitlines()
    expected = {
        "'NOSTATUS' / '1'": "no service_status",
        "'LOWER' / '2'": "'accepted' is 'Accepted' spelled otherwise",
        "'SPACED' / '3'": "'Being Serviced ' is 'Being Serviced' spelled otherwise",
        "'UNKNOWN' / '4'": "'On hold' is none of the website's nine",
        "'abc 123 ' / '5'": "license plate has stray spaces",
        "'IDSPACE' / ' 6'": "service id has stray spaces",
        "'NUMBER' / '7'": "phone_number is stored as a number",
    }
    for key, problem in expected.items():
        assert any(line.startswith(key) and problem in line for line in lines), (key, report)
    assert not any("FINE" in line for line in lines)
    assert lines[-1] == "8 items read, 7 findings: 3 that --fix mends, 4 for a person"
    assert await _items(dynamodb, table) == before


async def test_audit_fix_mends_statuses_once_and_puts_the_rows_on_the_lists(
    dynamodb: DynamoDBClient, table: str, api: httpx.AsyncClient
) -> None:
    await _seed_odd_rows(dynamodb, table)
    before = {(i["license_plate"]["S"], i["service_id"]["S"]): i for i in await _items(dynamodb, table)}
    status, report = await _audit(dynamodb, table, fix=True)
    assert status == 1, "four rows are left for a person"
    assert "3 fixed, 0 skipped, 4 for a person" in report

    after = {(i["license_plate"]["S"], i["service_id"]["S"]): i for i in await _items(dynamodb, table)}
    assert after.keys() == before.keys(), "nothing deleted, nothing added"
    assert after["NOSTATUS", "1"]["service_status"] == {"S": "New Request"}
    assert after["LOWER", "2"]["service_status"] == {"S": "Accepted"}
    assert after["SPACED", "3"]["service_status"] == {"S": "Being Serviced"}
    for key in (("NOSTATUS", "1"), ("LOWER", "2"), ("SPACED", "3")):
        assert after[key]["version"] == {"N": "1"}
        assert after[key]["phone_number"] == before[key]["phone_number"]
    for key in after.keys() - {("NOSTATUS", "1"), ("LOWER", "2"), ("SPACED", "3")}:
        assert after[key] == before[key], key

    admin = {(i["license_plate"], i["service_id"]) for i in (await api.get("/admin-service-request")).json()}
    assert {("NOSTATUS", "1"), ("LOWER", "2"), ("SPACED", "3")} <= admin
    active = (await api.get("/requests/active")).json()["items"]
    assert {("LOWER", "2"), ("SPACED", "3")} <= {(i["license_plate"], i["service_id"]) for i in active}

    again, report = await _audit(dynamodb, table, fix=True)
    assert again == 1
    assert "0 fixed, 0 skipped, 4 for a person" in report
    assert {
        (i["license_plate"]["S"], i["service_id"]["S"]): i for i in await _items(dynamodb, table)
    } == after


class _ConsoleEditsFirst:
    """The real client, except that a person edits the row in the console just before each update."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def update_item(self, **request: Any) -> Any:
        await put_raw(
            self._client,
            self._table,
            license_plate=request["Key"]["license_plate"]["S"],
            service_id=request["Key"]["service_id"]["S"],
            service_status="Quoted - Waiting for Approval",
        )
        return await self._client.update_item(**request)


async def test_audit_fix_skips_a_row_changed_since_it_was_read(dynamodb: DynamoDBClient, table: str) -> None:
    await put_raw(dynamodb, table, license_plate="LOWER", service_id="2", service_status="accepted")
    status, report = await _audit(_ConsoleEditsFirst(dynamodb, table), table, fix=True)  # type: ignore[arg-type]
    assert status == 1
    assert "skipped: the item changed since it was read" in report
    (item,) = await _items(dynamodb, table)
    assert item["service_status"] == {"S": "Quoted - Waiting for Approval"}, "the person's edit is kept"


async def test_a_clean_table_passes(dynamodb: DynamoDBClient, table: str, api: httpx.AsyncClient) -> None:
    assert (
        await api.post(
            "/service-request",
            json={"license_plate": "8B1111", "phone_number": "208-444-5555", "service_description": "Oil"},
        )
    ).status_code == 201
    assert await _audit(dynamodb, table, fix=False) == (
        0,
        "1 items read, 0 findings: 0 that --fix mends, 0 for a person\n",
    )


def test_inspect_reads_what_the_service_writes_as_fine() -> None:
    item: dict[str, AttributeValueTypeDef] = {
        "license_plate": {"S": "8B1111"},
        "service_id": {"S": "01JD8Y6V2ZK4M7Q9R3T5W8X0AB"},
        "service_status": {"S": Status.COMPLETED.value},
        "completion_date": {"S": "2026-11-26T15:04:05.123Z"},
        "version": {"N": "3"},
    }
    assert inspect(item) == []


def test_inspect_finds_a_plate_of_dots_only() -> None:
    """The console can store one; a program reaches it (`%2E%2E`), a browser's address cannot."""
    item: dict[str, AttributeValueTypeDef] = {
        "license_plate": {"S": ".."},
        "service_id": {"S": "1"},
        "service_status": {"S": Status.ACCEPTED.value},
    }
    (finding,) = inspect(item)
    assert "only dots" in finding.problem
    assert finding.fix is None


async def _run(settings: Settings, endpoint: str, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *as_run_here(("python", "-m", "service", "audit", *args)),
        env={
            "PATH": os.environ.get("PATH", ""),
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "AWS_REGION": settings.aws_region,
            "TABLE_NAME": settings.table_name,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None, err
    return process.returncode, out.decode()


async def test_the_command_exits_1_until_fixed(
    settings: Settings, dynamodb_endpoint: str, dynamodb: DynamoDBClient, table: str
) -> None:
    await put_raw(dynamodb, table, license_plate="LOWER", service_id="2", service_status="accepted")
    assert (await _run(settings, dynamodb_endpoint))[0] == 1
    fixed, report = await _run(settings, dynamodb_endpoint, "--fix")
    assert (fixed, report.splitlines()[-1]) == (
        0,
        "1 items read, 1 findings: 1 fixed, 0 skipped, 0 for a person",
    )
    assert await _run(settings, dynamodb_endpoint) == (
        0,
        "1 items read, 0 findings: 0 that --fix mends, 0 for a person\n",
    )
