"""DynamoDB expressions with placeholders: one request's attribute names and values, handed out as `#n0` and
`:v0` while its expressions are written, and returned with them."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef


class Parameters:
    """The placeholders of one request. `name("version")` is `#n0` (the same attribute, the same
    placeholder), `text("x")` is `:v0`; `request()` is what the request sends along with its expressions."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._values: dict[str, AttributeValueTypeDef] = {}

    def name(self, attribute: str) -> str:
        for placeholder, name in self._names.items():
            if name == attribute:
                return placeholder
        placeholder = f"#n{len(self._names)}"
        self._names[placeholder] = attribute
        return placeholder

    def value(self, value: AttributeValueTypeDef) -> str:
        placeholder = f":v{len(self._values)}"
        self._values[placeholder] = value
        return placeholder

    def text(self, value: str) -> str:
        return self.value({"S": value})

    def number(self, value: int) -> str:
        return self.value({"N": str(value)})

    def request(self) -> dict[str, Any]:
        """ExpressionAttributeNames and ExpressionAttributeValues, each left out when empty (DynamoDB
        refuses empty ones)."""
        request: dict[str, Any] = {}
        if self._names:
            request["ExpressionAttributeNames"] = dict(self._names)
        if self._values:
            request["ExpressionAttributeValues"] = dict(self._values)
        return request


def version_is(parameters: Parameters, versions: Collection[int]) -> str:
    """A condition: the item's `version` is one of `versions`; 0 stands for an item written elsewhere,
    which has no version yet."""
    version = parameters.name("version")
    alternatives = []
    numbered = sorted(v for v in versions if v > 0)
    if numbered:
        alternatives.append(f"{version} IN ({', '.join(parameters.number(v) for v in numbered)})")
    if 0 in versions:
        alternatives.append(f"attribute_not_exists({version})")
    return " OR ".join(alternatives)


def as_read(parameters: Parameters, item: Mapping[str, AttributeValueTypeDef], attribute: str) -> str:
    """A condition: `attribute` still holds what `item` held, or is still absent as it was there."""
    if attribute in item:
        return f"{parameters.name(attribute)} = {parameters.value(item[attribute])}"
    return f"attribute_not_exists({parameters.name(attribute)})"


def projection(parameters: Parameters, attributes: Collection[str]) -> str:
    """A ProjectionExpression reading `attributes` (in a stable order)."""
    return ", ".join(parameters.name(attribute) for attribute in sorted(attributes))
