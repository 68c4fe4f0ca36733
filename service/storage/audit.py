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
from typing import TYPE_CHECKING, Any, Literal, TextIO

from botocore.exceptions import ClientError
from tqdm import tqdm

from service.core.errors import BackendUnavailable
from service.core.models import Status, known_status, only_dots, timestamp
from service.storage.expressions import Parameters, as_read
from service.storage.guard import ConditionFailed, deadline_guard
from service.storage.tables import HISTORY, STATUS_CHANGED

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

    Item = Mapping[str, AttributeValueTypeDef]

# The DynamoDB type of each attribute the service reads, in the order the audit reports them.
_EXPECTED = {
    "service_status": "S",
    "phone_number": "S",
    "service_description": "S",
    "completion_date": "S",
    "created_at": "S",
    "updated_at": "S",
    "version": "N",
    HISTORY: "L",
    STATUS_CHANGED: "BOOL",
}
_TYPE_NAMES = {
    "S": "text",
    "N": "a number",
    "B": "binary",
    "BOOL": "a boolean",
    "NULL": "null",
    "M": "a map",
    "L": "a list",
    "SS": "a set of texts",
    "NS": "a set of numbers",
    "BS": "a set of binaries",
}
# What a status mend writes besides the status: a row holding another type in any of them is left alone.
_MEND_WRITES = ("version", "updated_at", STATUS_CHANGED)
# Text longer than this is shown cut, with its length: a value may be as large as a whole item.
_SHOWN = 80

_Outcome = Literal["mendable", "fixed", "skipped", "for a person"]


@dataclass(frozen=True)
class Finding:
    """One thing wrong with one item; `fix` is the status that mends it, when one can be set safely."""

    license_plate: str
    service_id: str
    problem: str
    fix: Status | None = None


def _stray_spaces(text: str) -> bool:
    return text != " ".join(text.split())


def _shown(text: str) -> str:
    """`text` quoted with its control characters escaped, cut when long."""
    if len(text) <= _SHOWN:
        return repr(text)
    return f"{text[:_SHOWN]!r}... ({len(text)} characters)"


def _type(value: AttributeValueTypeDef) -> str:
    return next(iter(value), "")


def inspect(item: Item) -> list[Finding]:
    """What keeps `item` off the service's lists or makes it hard to address or change (empty: nothing).
    Any attribute may hold any type; only the key is as the table declares it."""
    plate, service_id = item["license_plate"].get("S", ""), item["service_id"].get("S", "")

    def finding(problem: str, fix: Status | None = None) -> Finding:
        return Finding(plate, service_id, problem, fix)

    wrong = {
        name: _type(value)
        for name, expected in _EXPECTED.items()
        if (value := item.get(name)) is not None and _type(value) != expected
    }
    findings = []
    if "service_status" not in wrong:
        status = item["service_status"]["S"] if "service_status" in item else None
        fix = known_status(status) if status is not None else Status.NEW_REQUEST
        if status is None:
            problem = "no service_status: on no list"
        elif fix is None:
            problem = f"service_status {_shown(status)} is none of the website's nine"
        elif fix.value != status:
            problem = f"service_status {_shown(status)} is {fix.value!r} spelled otherwise"
        else:
            problem = ""
        if problem:
            blocking = [name for name in _MEND_WRITES if name in wrong]
            if fix is not None and blocking:
                held = "holds another type" if len(blocking) == 1 else "hold other types"
                problem += f"; --fix leaves it while {' and '.join(blocking)} {held}"
                fix = None
            findings.append(finding(problem, fix))
    if _stray_spaces(plate):
        findings.append(finding("the license plate has stray spaces"))
    if only_dots(plate):
        findings.append(finding("the license plate is only dots: a browser cannot name it in an address"))
    if _stray_spaces(service_id):
        findings.append(finding("the service id has stray spaces"))
    for name, kind in wrong.items():
        shown = _TYPE_NAMES.get(kind, f"type {kind!r}")
        findings.append(finding(f"{name} is stored as {shown}, not as {_TYPE_NAMES[_EXPECTED[name]]}"))
    return findings


async def _scan(client: DynamoDBClient, table: str, deadline: float) -> AsyncIterator[Item]:
    """Every item of the table, one page of the Scan at a time."""
    request: dict[str, Any] = {"TableName": table}
    while True:
        async with deadline_guard(deadline, table=table):
            page = await client.scan(**request)
        for item in page.get("Items", []):
            yield item
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


async def _mend(
    client: DynamoDBClient, table: str, item: Item, status: Status, deadline: float
) -> tuple[_Outcome, str]:
    """Set the status, only while each attribute the write touches is still as the Scan read it; what
    became of it, and what to say."""
    parameters = Parameters()
    conditions = [
        f"attribute_exists({parameters.name('license_plate')})",
        *(as_read(parameters, item, name) for name in ("service_status", *_MEND_WRITES)),
    ]
    stamp = f"{parameters.name('updated_at')} = {parameters.text(timestamp())}"
    # A spelling mended is no change of status that people made: it is not published.
    unmarked = f"{parameters.name(STATUS_CHANGED)} = {parameters.value({'BOOL': False})}"
    update = (
        f"SET {parameters.name('service_status')} = {parameters.text(status.value)}, {stamp}, {unmarked} "
        f"ADD {parameters.name('version')} {parameters.number(1)}"
    )
    try:
        async with deadline_guard(deadline, table=table):
            await client.update_item(
                TableName=table,
                Key={"license_plate": item["license_plate"], "service_id": item["service_id"]},
                UpdateExpression=update,
                ConditionExpression=" AND ".join(conditions),
                **parameters.request(),
            )
    except ConditionFailed:
        return "skipped", "skipped: the item changed since it was read; run again"
    except BackendUnavailable as unavailable:
        return "skipped", f"skipped: {unavailable.message}; run again"
    except ClientError as refused:
        # The item itself is what DynamoDB will not write (it would grow past 400 KB, for one).
        message = refused.response.get("Error", {}).get("Message") or "no reason given"
        return "for a person", f"for a person: DynamoDB refused the change: {message}"
    return "fixed", f"fixed: now {status.value!r}"


def _name(finding: Finding) -> str:
    return f"{finding.license_plate!r} / {finding.service_id!r}"


async def audit(
    client: DynamoDBClient, table: str, *, fix: bool, out: TextIO = sys.stdout, deadline: float = 10.0
) -> int:
    """Report (and with `fix` mend) the table's odd items; the exit status: 0 when nothing is left.

    Every item is read and reported whatever its attributes hold; one that cannot be mended is listed
    for a person with the reason. The summary is printed even when DynamoDB stops answering midway."""
    scanned = 0
    counts: dict[_Outcome | Literal["found"], int] = dict.fromkeys(
        ("found", "mendable", "fixed", "skipped", "for a person"), 0
    )
    stopped = None
    try:
        async with deadline_guard(deadline, table=table):
            description = (await client.describe_table(TableName=table))["Table"]
        with tqdm(
            total=description.get("ItemCount"),  # DynamoDB updates it about every six hours: a guide only
            unit=" items",
            desc=f"scanning {table}",
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
        ) as progress:
            async for item in _scan(client, table, deadline):
                scanned += 1
                progress.update()
                for finding in inspect(item):
                    counts["found"] += 1
                    if finding.fix is None:
                        outcome: _Outcome = "for a person"
                        action = "for a person"
                    elif not fix:
                        outcome, action = "mendable", f"--fix sets {finding.fix.value!r}"
                    else:
                        outcome, action = await _mend(client, table, item, finding.fix, deadline)
                    counts[outcome] += 1
                    progress.write(f"{_name(finding)}: {finding.problem} ({action})", file=out)
    except BackendUnavailable as unavailable:
        stopped = unavailable.message
    except ClientError as refused:
        stopped = refused.response.get("Error", {}).get("Message") or str(refused)
    if stopped is not None:
        print(f"the Scan stopped after {scanned} items: {stopped}", file=out)
    summary = f"{scanned} items read, {counts['found']} findings: " + (
        f"{counts['fixed']} fixed, {counts['skipped']} skipped, "
        if fix
        else f"{counts['mendable']} that --fix mends, "
    )
    print(summary + f"{counts['for a person']} for a person", file=out)
    left = counts["skipped"] + counts["for a person"] if fix else counts["found"]
    return 1 if left or stopped is not None else 0
