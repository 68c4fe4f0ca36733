"""`python -m service audit`: the items that the service's lists cannot show or address well, and `--fix`
for those that can be mended safely.

Items typed in the AWS console or stored by the lab's code may lack a status, spell one otherwise
(`accepted`, `Being Serviced `), carry plates or ids with stray spaces, or numbers where text belongs.
The lists read StatusIndex by the website's exact statuses, so such items are missing from them. Finding
them means reading the whole table once: the one place a Scan is right, an offline command.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from botocore.exceptions import ClientError
from tqdm import tqdm

from service.expressions import Parameters, as_read
from service.models import Status, known_status, only_dots, timestamp
from service.table import STATUS_CHANGED

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

    Item = Mapping[str, AttributeValueTypeDef]

_TEXT_ATTRIBUTES = (
    "phone_number",
    "service_description",
    "completion_date",
    "created_at",
    "updated_at",
)
_TYPE_NAMES = {
    "N": "a number",
    "B": "binary",
    "BOOL": "a boolean",
    "NULL": "null",
    "M": "a map",
    "L": "a list",
}


@dataclass(frozen=True)
class Finding:
    """One thing wrong with one item; `fix` is the status that mends it, when one can be set safely."""

    license_plate: str
    service_id: str
    problem: str
    fix: Status | None = None


def _stray_spaces(text: str) -> bool:
    return text != " ".join(text.split())


def inspect(item: Item) -> list[Finding]:
    """What keeps `item` off the service's lists or makes it hard to address (empty: nothing)."""
    plate, service_id = item["license_plate"].get("S", ""), item["service_id"].get("S", "")

    def finding(problem: str, fix: Status | None = None) -> Finding:
        return Finding(plate, service_id, problem, fix)

    findings = []
    status = item.get("service_status", {}).get("S")
    if status is None:
        findings.append(finding("no service_status: on no list", Status.NEW_REQUEST))
    elif (known := known_status(status)) is None or known.value != status:
        if known is not None:
            findings.append(finding(f"service_status {status!r} is {known.value!r} spelled otherwise", known))
        else:
            findings.append(finding(f"service_status {status!r} is none of the website's nine"))
    if _stray_spaces(plate):
        findings.append(finding("the license plate has stray spaces"))
    if only_dots(plate):
        findings.append(finding("the license plate is only dots: a browser cannot name it in an address"))
    if _stray_spaces(service_id):
        findings.append(finding("the service id has stray spaces"))
    for name in _TEXT_ATTRIBUTES:
        value = item.get(name)
        if value is not None and "S" not in value:
            kind = _TYPE_NAMES.get(next(iter(value), ""), "not text")
            findings.append(finding(f"{name} is stored as {kind}, not as text"))
    return findings


async def _scan(client: DynamoDBClient, table: str) -> AsyncIterator[Item]:
    """Every item of the table, one page of the Scan at a time."""
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = await client.scan(**request)
        for item in page.get("Items", []):
            yield item
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


async def _mend(client: DynamoDBClient, table: str, item: Item, status: Status) -> bool:
    """Set the status, only while the item still has the status and version that the Scan read.
    False when it changed meanwhile (or is gone)."""
    parameters = Parameters()
    conditions = [
        f"attribute_exists({parameters.name('license_plate')})",
        as_read(parameters, item, "service_status"),
        as_read(parameters, item, "version"),
    ]
    stamp = f"{parameters.name('updated_at')} = {parameters.text(timestamp())}"
    # A spelling mended is no change of status that people made: it is not published.
    unmarked = f"{parameters.name(STATUS_CHANGED)} = {parameters.value({'BOOL': False})}"
    update = (
        f"SET {parameters.name('service_status')} = {parameters.text(status.value)}, {stamp}, {unmarked} "
        f"ADD {parameters.name('version')} {parameters.number(1)}"
    )
    try:
        await client.update_item(
            TableName=table,
            Key={"license_plate": item["license_plate"], "service_id": item["service_id"]},
            UpdateExpression=update,
            ConditionExpression=" AND ".join(conditions),
            **parameters.request(),
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _name(finding: Finding) -> str:
    return f"{finding.license_plate!r} / {finding.service_id!r}"


async def audit(client: DynamoDBClient, table: str, *, fix: bool, out: TextIO = sys.stdout) -> int:
    """Report (and with `fix` mend) the table's odd items; the exit status: 0 when nothing is left."""
    description = (await client.describe_table(TableName=table))["Table"]
    scanned = 0
    counts = {"found": 0, "mendable": 0, "fixed": 0, "skipped": 0, "for a person": 0}
    with tqdm(
        total=description.get("ItemCount"),  # DynamoDB updates it about every six hours: a guide only
        unit=" items",
        desc=f"scanning {table}",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
    ) as progress:
        async for item in _scan(client, table):
            scanned += 1
            progress.update()
            for finding in inspect(item):
                counts["found"] += 1
                if finding.fix is None:
                    counts["for a person"] += 1
                    action = "for a person"
                elif not fix:
                    counts["mendable"] += 1
                    action = f"--fix sets {finding.fix.value!r}"
                elif await _mend(client, table, item, finding.fix):
                    counts["fixed"] += 1
                    action = f"fixed: now {finding.fix.value!r}"
                else:
                    counts["skipped"] += 1
                    action = "skipped: the item changed since it was read; run again"
                progress.write(f"{_name(finding)}: {finding.problem} ({action})", file=out)
    summary = f"{scanned} items read, {counts['found']} findings: " + (
        f"{counts['fixed']} fixed, {counts['skipped']} skipped, "
        if fix
        else f"{counts['mendable']} that --fix mends, "
    )
    print(summary + f"{counts['for a person']} for a person", file=out)
    left = counts["skipped"] + counts["for a person"] if fix else counts["found"]
    return 1 if left else 0
