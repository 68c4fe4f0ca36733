"""Lambda SnapStart: the runtime hooks, registered with AWS's snapshot-restore-py, and what they need: the
requests that warm a snapshot, and the reseeding that makes each copy restored from it unique."""

from __future__ import annotations

import importlib
import json
import os
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ulid
from mangum.types import LambdaCognitoIdentity, LambdaMobileClientContext

# Marks the warm-up's requests in the log.
WARM_UP_REQUEST_ID = "snapshot-warm-up"
_ORIGIN = "https://snapshot.invalid"


def register(*, before_snapshot: Callable[[], None], after_restore: Callable[[], None]) -> bool:
    """Have Lambda run `before_snapshot` before it snapshots this initialised environment and
    `after_restore` in every copy it restores; False where there are no SnapStart hooks."""
    try:
        # Lambda's Python runtime (3.12 and later) provides it, and runs what is registered here when the
        # handler's module was imported; the deployment package leaves it out. Without it (a local run, an
        # install without the dev extra) nothing calls the hooks.
        hooks = importlib.import_module("snapshot_restore_py")
    except ImportError:
        return False
    hooks.register_before_snapshot(before_snapshot)
    hooks.register_after_restore(after_restore)
    return True


def reseed() -> None:
    """Give this copy its own randomness: whatever was seeded before the snapshot is the same in every copy.

    - `random` (botocore's retry jitter) is seeded from the kernel again;
    - OpenSSL's generator (TLS to DynamoDB) gets fresh entropy mixed in;
    - the ULID generator starts anew: it continues from its last id within a millisecond (monotonic ids),
      which would be the snapshot's id in every copy. Its randomness comes from os.urandom, which Lambda
      keeps unique across restores.
    """
    random.seed()
    ssl.RAND_add(os.urandom(32), 32.0)
    ulid.default_generator = ulid.ULIDGenerator()


@dataclass
class WarmUpContext:
    """The `context` of the warm-up's invocations, which no invocation of Lambda's own makes."""

    function_name: str = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    function_version: str = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "")
    invoked_function_arn: str = ""
    memory_limit_in_mb: int = 0
    aws_request_id: str = WARM_UP_REQUEST_ID
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: LambdaCognitoIdentity | None = None
    client_context: LambdaMobileClientContext | None = None

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _rest_api_event(method: str, headers: dict[str, str], body: str | None = None) -> dict[str, Any]:
    path = "/service-request"
    headers = {"Host": "snapshot.execute-api.invalid", "X-Request-ID": WARM_UP_REQUEST_ID, **headers}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "path": path,
            "httpMethod": method,
            "identity": {"sourceIp": "127.0.0.1"},
            "requestId": WARM_UP_REQUEST_ID,
        },
        "body": body,
        "isBase64Encoded": False,
    }


# The website's first calls after a quiet spell: the public list, and the form (its preflight, then its POST).
WARM_UP_EVENTS = (
    _rest_api_event("GET", {"Accept": "application/json", "Origin": _ORIGIN}),
    _rest_api_event(
        "OPTIONS",
        {
            "Origin": _ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    ),
    _rest_api_event(
        "POST",
        {"Content-Type": "application/json", "Origin": _ORIGIN},
        json.dumps(
            {
                "service_description": "Oil change",
                "phone_number": "208-555-0100",
                "license_plate": "SNAPSHOT",
            }
        ),
    ),
)
