"""`python -m service audit`: every kind of odd row is reported; `--fix` mends statuses safely, once."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from botocore.exceptions import ClientError

from service.core.models import Status
from service.core.settings import Settings
from service.storage.audit import audit, inspect
from service.storage.tables import KEY_SCHEMA
from tests.support.helpers import put_raw
from tests.support.process import as_run_here

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


@pytest.fixture
async def hand_made_table(settings: Settings, dynamodb: DynamoDBClient) -> AsyncIterator[str]:
    """A table with the lab's key and no StatusIndex, as one made by hand in the console is: any
    attribute but the key may hold any type there."""
    name = f"{settings.table_name}-by-hand"
    await dynamodb.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=[
            {"AttributeName": "license_plate", "AttributeType": "S"},
            {"AttributeName": "service_id", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    await dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    yield name
    await dynamodb.delete_table(TableName=name)


async def _largest_description(dynamodb: DynamoDBClient, table: str, item: dict[str, Any]) -> None:
    """Store `item` with the longest service_description the server takes: a row no write may grow."""
    fits, too_long = 0, 500_000
    while too_long - fits > 1:
        length = (fits + too_long) // 2
        refusal = None
        try:
            await dynamodb.put_item(
                TableName=table, Item={**item, "service_description": {"S": "x" * length}}
            )
        except ClientError as refused:
            refusal = refused.response["Error"]["Code"]
        assert refusal in (None, "ValidationException")
        fits, too_long = (fits, length) if refusal else (length, too_long)
    assert fits > 300_000
    await dynamodb.put_item(TableName=table, Item={**item, "service_description": {"S": "x" * fits}})


HUGE_STATUS = "On hold \x1b[31m" + "z" * 300_000


async def _seed_hostile_rows(dynamodb: DynamoDBClient, table: str) -> None:
    """Rows holding every DynamoDB type where the service expects another, huge values, and two rows
    that --fix mends, written with the low-level client."""

    def row(plate: str, **attributes: AttributeValueTypeDef) -> dict[str, Any]:
        return {"license_plate": {"S": plate}, "service_id": {"S": "1"}, **attributes}

    rows = [
        row("TEXTVERSION", service_status={"S": "accepted"}, version={"S": "3"}),
        row("TEXTSTAMP", service_status={"S": "accepted"}, updated_at={"N": "1700000000"}),
        row("NUMBERSTATUS", service_status={"N": "7"}),
        row("MAPSTATUS", service_status={"M": {"S": {"S": "Accepted"}}}),
        row("LISTSTATUS", service_status={"L": [{"S": "Accepted"}]}),
        row("BINARYSTATUS", service_status={"B": b"\x00Accepted\xff"}),
        row("NULLSTATUS", service_status={"NULL": True}),
        row("BOOLSTATUS", service_status={"BOOL": False}),
        row("SETSTATUS", service_status={"SS": ["Accepted", "Completed"]}),
        row(
            "ODDTYPES",
            service_status={"S": "Accepted"},
            phone_number={"N": "2085550100"},
            service_description={"M": {"text": {"S": "Brakes"}}},
            completion_date={"NS": ["1", "2"]},
            created_at={"L": []},
            updated_at={"B": b"\x01"},
            status_history={"S": "Accepted"},
            status_changed={"S": "true"},
        ),
        row("HUGESTATUS", service_status={"S": HUGE_STATUS}),
        row("LOWER", service_status={"S": "accepted"}, version={"N": "4"}),
        row("NOSTATUS", phone_number={"S": "208-555-0100"}),
        row("FINE", service_status={"S": "Accepted"}, version={"N": "2"}),
    ]
    for item in rows:
        await dynamodb.put_item(TableName=table, Item=item)
    await _largest_description(dynamodb, table, row("HUGEROW", service_status={"S": "being serviced"}))


# What the audit says of each hostile row (every line it prints for the row holds one of these).
HOSTILE_FINDINGS = {
    "TEXTVERSION": [
        "service_status 'accepted' is 'Accepted' spelled otherwise; --fix leaves it while version holds "
        "another type (for a person)",
        "version is stored as text, not as a number (for a person)",
    ],
    "TEXTSTAMP": [
        "service_status 'accepted' is 'Accepted' spelled otherwise; --fix leaves it while updated_at holds "
        "another type (for a person)",
        "updated_at is stored as a number, not as text (for a person)",
    ],
    "NUMBERSTATUS": ["service_status is stored as a number, not as text (for a person)"],
    "MAPSTATUS": ["service_status is stored as a map, not as text (for a person)"],
    "LISTSTATUS": ["service_status is stored as a list, not as text (for a person)"],
    "BINARYSTATUS": ["service_status is stored as binary, not as text (for a person)"],
    "NULLSTATUS": ["service_status is stored as null, not as text (for a person)"],
    "BOOLSTATUS": ["service_status is stored as a boolean, not as text (for a person)"],
    "SETSTATUS": ["service_status is stored as a set of texts, not as text (for a person)"],
    "ODDTYPES": [
        "phone_number is stored as a number, not as text (for a person)",
        "service_description is stored as a map, not as text (for a person)",
        "completion_date is stored as a set of numbers, not as text (for a person)",
        "created_at is stored as a list, not as text (for a person)",
        "updated_at is stored as binary, not as text (for a person)",
        "status_history is stored as text, not as a list (for a person)",
        "status_changed is stored as text, not as a boolean (for a person)",
    ],
    "HUGESTATUS": [
        f"service_status {HUGE_STATUS[:80]!r}... ({len(HUGE_STATUS)} characters) is none of the "
        "website's nine (for a person)"
    ],
}


def _lines_by_row(report: str) -> dict[str, list[str]]:
    """The finding lines of a report, by the plate they name (the summary and any other line apart)."""
    rows: dict[str, list[str]] = {}
    for line in report.splitlines():
        plate, separator, finding = line.partition(" / '1': ")
        if separator:
            rows.setdefault(plate.strip("'"), []).append(finding)
    return rows


async def test_the_command_reads_every_hostile_row_and_mends_only_what_is_safe(
    settings: Settings, dynamodb_endpoint: str, dynamodb: DynamoDBClient, hand_made_table: str
) -> None:
    """A row of any type where text, a number or a list belongs is read and reported as such; --fix
    never overwrites it, lists a row it cannot mend for a person with the reason, goes on to the rows
    after it, and always ends with the summary."""
    await _seed_hostile_rows(dynamodb, hand_made_table)
    before = {item["license_plate"]["S"]: item for item in await _items(dynamodb, hand_made_table)}
    hand_made = settings.model_copy(update={"table_name": hand_made_table})

    status, report = await _run(hand_made, dynamodb_endpoint)
    assert status == 1
    rows = _lines_by_row(report)
    for plate, findings in HOSTILE_FINDINGS.items():
        assert rows[plate] == findings, plate
    assert rows["LOWER"] == [
        "service_status 'accepted' is 'Accepted' spelled otherwise (--fix sets 'Accepted')"
    ]
    assert rows["NOSTATUS"] == ["no service_status: on no list (--fix sets 'New Request')"]
    assert rows["HUGEROW"] == [
        "service_status 'being serviced' is 'Being Serviced' spelled otherwise (--fix sets 'Being Serviced')"
    ]
    assert "FINE" not in rows
    assert max(len(line) for line in report.splitlines()) < 500, "huge values are shown cut"
    assert report.splitlines()[-1] == "15 items read, 22 findings: 3 that --fix mends, 19 for a person"
    assert {item["license_plate"]["S"]: item for item in await _items(dynamodb, hand_made_table)} == before

    status, report = await _run(hand_made, dynamodb_endpoint, "--fix")
    assert status == 1
    rows = _lines_by_row(report)
    for plate, findings in HOSTILE_FINDINGS.items():
        assert rows[plate] == findings, plate
    assert rows["LOWER"] == [
        "service_status 'accepted' is 'Accepted' spelled otherwise (fixed: now 'Accepted')"
    ]
    assert rows["NOSTATUS"] == ["no service_status: on no list (fixed: now 'New Request')"]
    (refused,) = rows["HUGEROW"]
    assert refused.startswith(
        "service_status 'being serviced' is 'Being Serviced' spelled otherwise "
        "(for a person: DynamoDB refused the change: "
    ), refused
    assert report.splitlines()[-1] == "15 items read, 22 findings: 2 fixed, 0 skipped, 20 for a person"

    after = {item["license_plate"]["S"]: item for item in await _items(dynamodb, hand_made_table)}
    assert after.keys() == before.keys()
    for plate in after.keys() - {"LOWER", "NOSTATUS"}:
        assert after[plate] == before[plate], f"{plate} is left as it was"
    assert after["LOWER"]["service_status"] == {"S": "Accepted"}
    assert after["LOWER"]["version"] == {"N": "5"}
    assert after["NOSTATUS"]["service_status"] == {"S": "New Request"}
    assert after["NOSTATUS"]["phone_number"] == before["NOSTATUS"]["phone_number"]


async def test_the_command_prints_its_summary_when_the_table_cannot_be_read(
    settings: Settings, dynamodb_endpoint: str, table: str
) -> None:
    missing = settings.model_copy(update={"table_name": f"{table}-missing"})
    status, report = await _run(missing, dynamodb_endpoint, "--fix")
    assert status == 1
    stopped, summary = report.splitlines()
    assert stopped.startswith(f"the Scan stopped after 0 items: table {table}-missing does not exist")
    assert summary == "0 items read, 0 findings: 0 fixed, 0 skipped, 0 for a person"


@pytest.mark.parametrize(
    "value",
    [
        {"N": "7"},
        {"B": b"Accepted"},
        {"BOOL": True},
        {"NULL": True},
        {"M": {}},
        {"L": []},
        {"SS": ["Accepted"]},
        {"NS": ["1"]},
        {"BS": [b"1"]},
    ],
)
def test_a_status_of_another_type_is_reported_as_such_and_never_mended(
    value: AttributeValueTypeDef,
) -> None:
    item: dict[str, AttributeValueTypeDef] = {
        "license_plate": {"S": "8B1111"},
        "service_id": {"S": "1"},
        "service_status": value,
    }
    (finding,) = inspect(item)
    assert finding.fix is None
    assert finding.problem.startswith("service_status is stored as ")
    assert finding.problem.endswith(", not as text")
