"""The guard around every DynamoDB call: a deadline that bounds it, retries included, and botocore's errors
turned into the service's own, so that nothing above the data modules sees a ClientError."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from service.core.errors import BackendUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

log = logging.getLogger(__name__)

_THROTTLED = "DynamoDB is throttling requests"
# DynamoDB error codes that mean "try again later" rather than "your request is wrong", and what to say.
ERRORS = {
    "ProvisionedThroughputExceededException": _THROTTLED,
    "ThrottlingException": _THROTTLED,
    "RequestLimitExceeded": _THROTTLED,
    "LimitExceededException": _THROTTLED,
    "InternalServerError": "DynamoDB had an internal error",
    "ServiceUnavailable": "DynamoDB is unavailable",
    "UnrecognizedClientException": "DynamoDB refused the service's credentials",
}


class ConditionFailed(Exception):
    """A write's condition did not hold; `item` is the item as it was, when DynamoDB sent it back."""

    def __init__(self, item: Mapping[str, AttributeValueTypeDef] | None) -> None:
        super().__init__("condition failed")
        self.item = item


def missing_table(table: str) -> str:
    """What the service answers while `table` does not exist, and how to create it."""
    return f"table {table} does not exist; create it with `make init-table` (python -m service init-table)"


@asynccontextmanager
async def deadline_guard(deadline: float, *, table: str | None = None) -> AsyncIterator[None]:
    """Let the DynamoDB calls inside, on `table`, take at most `deadline` seconds, and raise
    BackendUnavailable when DynamoDB cannot answer usefully, ConditionFailed when a write's condition did
    not hold."""
    try:
        async with asyncio.timeout(deadline):
            yield
    except TimeoutError as exc:
        log.warning("DynamoDB did not answer within %g s", deadline)
        raise BackendUnavailable(f"DynamoDB did not answer within {deadline:g} s") from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ConditionalCheckFailedException":
            item: Any = exc.response.get("Item")
            raise ConditionFailed(item) from exc
        if code == "ResourceNotFoundException":
            log.warning("DynamoDB table %s does not exist", table or "(of this call)")
            message = missing_table(table) if table else "a table this call needs does not exist"
            raise BackendUnavailable(message, missing_table=table) from exc
        if code in ERRORS:
            log.warning("DynamoDB answered %s", code)
            raise BackendUnavailable(ERRORS[code]) from exc
        raise
    except BotoCoreError as exc:
        # Connection refused, timeouts, closed connections, missing credentials: all transient for callers.
        log.warning("DynamoDB unreachable: %s", type(exc).__name__)
        raise BackendUnavailable("DynamoDB cannot be reached") from exc
