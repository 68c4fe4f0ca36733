"""The function as Lambda's runtime runs it: with only the runtime's own variables, and its log lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service.core.settings import Settings
from tests.support.helpers import FORM
from tests.support.lambda_events import CLAIMS, rest_api

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-2"
PHONE = "208-555-0199"
TOKEN = "eyJraWQiOiJzZWNyZXQtdG9rZW4tdmFsdWUifQ.eyJzdWIiOiJ0ZWNoIn0.c2lnbmF0dXJl"

# What Lambda's Python runtime sets in a function's environment before it imports the handler: nothing else.
RUNTIME_VARIABLES = {
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_NAME": "getServiceRequest",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/getServiceRequest",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/03/[$LATEST]0123456789abcdef",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE12",
    "AWS_SECRET_ACCESS_KEY": "example-secret-key-of-the-functions-role",
    "AWS_SESSION_TOKEN": "example-session-token",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "_HANDLER": "lambda_adapter.handler.handler",
}

# Imports the handler as the runtime does, then reports what it resolved; sends nothing to AWS.
_RESOLVED = """
import json
from lambda_adapter import handler
adapter = handler._adapter
settings = adapter.app.state.settings
client = adapter._enter_loop().run_until_complete(adapter.app.state.backend.client())
print(json.dumps({
    "mode": settings.mode, "region": settings.aws_region, "auth": settings.auth,
    "endpoint": client.meta.endpoint_url, "technician_origins": settings.technician_origins,
}))
"""

# Imports the handler, warms it up as SnapStart would, then serves `EVENTS` (a JSON list of [event,
# aws_request_id]) one invocation each, printing nothing of its own.
_INVOCATIONS = """
import json, os
from lambda_adapter import handler
from tests.support.lambda_events import Context
handler._adapter.warm_up()
for event, invocation in json.loads(os.environ["EVENTS"]):
    handler.handler(event, Context(aws_request_id=invocation))
"""


def _run(script: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_with_only_the_runtimes_variables_it_uses_dynamodb_in_its_region_behind_the_gateway() -> None:
    done = _run(_RESOLVED, RUNTIME_VARIABLES)
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)
    assert resolved == {
        "mode": "aws",
        "region": REGION,
        "auth": "gateway",
        "endpoint": f"https://dynamodb.{REGION}.amazonaws.com",
        # The course's pages call every route from their own origin; the admin routes need the authorizer's
        # token in a header, so granting any origin grants no page anything it could not send itself.
        "technician_origins": ["*"],
    }
    assert "no DynamoDB configured" not in done.stderr


def test_outside_lambda_nothing_chooses_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = ("AWS_ENDPOINT_URL_DYNAMODB", "DYNAMODB_MODE", "AUTH_MODE", "CORS_ORIGINS")
    for name in (*RUNTIME_VARIABLES, *chosen):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="no DynamoDB configured"):
        Settings()
    monkeypatch.setenv("DYNAMODB_MODE", "aws")
    assert (Settings().auth, Settings().technician_origins) == ("jwt", [])


def _lines(output: str) -> list[dict[str, Any]]:
    lines = [line for line in output.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}\n{output}")
    return parsed


@pytest.mark.moto_only("the warm-up's stand-in and the handler's module state want one server per process")
def test_on_lambda_every_line_is_json_with_both_ids_each_request_once_and_no_phone_or_token(
    settings: Settings, table: str
) -> None:
    form = json.dumps({**FORM, "phone_number": PHONE})
    json_body = {"Content-Type": "application/json"}
    events = [
        [
            rest_api("POST", "/service-request", body=form, headers=json_body),
            "invocation-form",
        ],
        [
            rest_api("GET", "/admin-service-request", headers={"Authorization": TOKEN}, claims=CLAIMS),
            "invocation-admin",
        ],
        [{"key1": "value1", "key2": "value2", "key3": "value3"}, "invocation-console"],
    ]
    environment = {
        **RUNTIME_VARIABLES,
        "AWS_REGION": settings.aws_region,
        "AWS_DEFAULT_REGION": settings.aws_region,
        "AWS_ENDPOINT_URL_DYNAMODB": settings.dynamodb_endpoint or "",
        "TABLE_NAME": settings.table_name,
        "IDEMPOTENCY_TABLE_NAME": settings.idempotency_table_name,
        "LOG_LEVEL": "DEBUG",  # the most a function can be told to say
        "EVENTS": json.dumps(events),
    }
    done = _run(_INVOCATIONS, environment)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    lines = _lines(output)
    assert PHONE not in output
    assert PHONE[-4:] not in output, "not even the public list's last four digits"
    assert TOKEN not in output
    assert "example-secret-key" not in output
    for invocation, path in [
        ("invocation-form", "/prod/service-request"),
        ("invocation-admin", "/prod/admin-service-request"),
    ]:
        mine = [line for line in lines if line.get("aws_request_id") == invocation]
        requests = [line for line in mine if line.get("logger") == "service.requests"]
        assert len(requests) == 1, mine
        assert requests[0]["path"] == path
        assert requests[0]["request_id"]
        assert all(line.get("request_id") == requests[0]["request_id"] for line in mine if "path" in line)
        # No other logger repeats the request (Mangum logs one of its own at INFO).
        assert sum(path in json.dumps(line) for line in lines) == 1, lines
    warm_up = [line for line in lines if line.get("aws_request_id") == "snapshot-warm-up"]
    assert warm_up, "the warm-up's requests are logged as invocations of their own"
    assert all(line.get("request_id") for line in warm_up if line.get("logger") == "service.requests")
