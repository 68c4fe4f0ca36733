"""The items of DynamoDB's answers taken as JSON decodes them, without botocore's second pass over them.

botocore builds a result by walking the decoded JSON against the operation's model, value by value. An item's
values are objects such as {"S": "..."}, {"N": "12"}, {"L": [...]}, {"M": {...}}, {"BOOL": true}: JSON already
decodes each into the dict that walk builds, but for binary values ("B", "BS"), which it turns from base64
into bytes. The walk costs about 0.1 ms per item of ten attributes (json decodes it in 0.013 ms): a tenth of
a GetItem's CPU, most of a long list's. Answers holding a binary value are left to botocore whole.

Written for botocore 1.40.61 (aiobotocore 2.25.1). botocore emits `before-parse.dynamodb.<operation>` with the
HTTP answer (`response_dict`, its `body` the bytes read) and a dict it merges into the parsed result
(`customized_response_dict`); the handler moves the items from the first to the second. A botocore that
stops doing either fails tests/storage/test_decoded_items.py.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

WRITTEN_FOR = {"botocore": "1.40.61", "aiobotocore": "2.25.1"}

# The operations whose answers hold items, and where: one item, a list of them, or one as written or deleted.
OPERATIONS = ("GetItem", "Query", "Scan", "UpdateItem", "DeleteItem", "PutItem")
_ITEMS = ("Item", "Items", "Attributes")
# A binary value's type as JSON writes it. Inside a text JSON escapes quotes, so these appear elsewhere only
# as a name ("B" as an attribute or a map's key) or as a whole text ("B"): such answers go to botocore whole.
_BINARY = (b'"B"', b'"BS"')


def take_items_as_decoded(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """botocore's `before-parse` handler: the answer's items go to the result as decoded, and botocore
    parses the rest (counts, the last key read, the capacity used) as it would."""
    body = response_dict.get("body")
    if response_dict.get("status_code") != 200 or not isinstance(body, bytes):
        return  # errors, and anything unexpected, as botocore parses them
    if any(binary in body for binary in _BINARY):
        return
    try:
        answer = json.loads(body)
    except ValueError:
        return
    if not isinstance(answer, dict):
        return
    items = {name: answer.pop(name) for name in _ITEMS if name in answer}
    if items:
        customized_response_dict.update(items)
        response_dict["body"] = json.dumps(answer).encode()


def read_items_as_decoded(client: DynamoDBClient) -> None:
    """From now on `client`'s answers give their items as JSON decodes them (see the module)."""
    for operation in OPERATIONS:
        client.meta.events.register(f"before-parse.dynamodb.{operation}", take_items_as_decoded)
