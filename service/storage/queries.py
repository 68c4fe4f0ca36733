"""The Queries the lists make, written with their placeholders, and a list's position in the table as a
cursor keeps it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from service.storage.expressions import Parameters, projection
from service.storage.items import Item
from service.storage.tables import INDEX_KEY, STATUS_INDEX

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef, QueryInputTypeDef


def position(item: Item, names: frozenset[str]) -> dict[str, str]:
    return {name: item[name]["S"] for name in names}


def exclusive_start(position: dict[str, str]) -> dict[str, AttributeValueTypeDef]:
    return {name: {"S": value} for name, value in position.items()}


def vehicle_query(
    table: str, license_plate: str, from_id: str | None = None, *, inclusive: bool = False
) -> QueryInputTypeDef:
    parameters = Parameters()
    condition = f"{parameters.name('license_plate')} = {parameters.text(license_plate)}"
    if from_id is not None:
        operator = ">=" if inclusive else ">"
        condition += f" AND {parameters.name('service_id')} {operator} {parameters.text(from_id)}"
    query: QueryInputTypeDef = {"TableName": table, "KeyConditionExpression": condition}
    query.update(parameters.request())  # type: ignore[typeddict-item]
    return query


def status_query(table: str, status: str, fields: Sequence[str] | None = None) -> QueryInputTypeDef:
    parameters = Parameters()
    query: QueryInputTypeDef = {
        "TableName": table,
        "IndexName": STATUS_INDEX,
        "KeyConditionExpression": f"{parameters.name('service_status')} = {parameters.text(status)}",
    }
    if fields is not None:
        query["ProjectionExpression"] = projection(parameters, {*fields, *INDEX_KEY})
    query.update(parameters.request())  # type: ignore[typeddict-item]
    return query
