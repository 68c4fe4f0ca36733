"""Lambda SnapStart: the handler's import initialises everything, the warm-up before the snapshot reaches no
DynamoDB and keeps no connection, and every copy restored from the snapshot is its own."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import snapshot_restore_py
from cfnlint.decode import decode

from lambda_adapter import snapstart
from lambda_adapter.handler import LambdaAdapter
from service.core.settings import Settings
from tests.support.helpers import FORM
from tests.support.lambda_events import CLAIMS, Context, rest_api
from tests.support.servers import Answer, Relay, Request, json_server, tcp_relay

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

ROOT = Path(__file__).resolve().parents[2]
COPIES = Path(__file__).resolve().parents[1] / "support" / "snapstart_copies.py"


@pytest.fixture
def lambda_thread() -> Iterator[ThreadPoolExecutor]:
    """One thread runs the initialisation, the hooks and every invocation, as in a Lambda container."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda") as thread:
        yield thread


@pytest.fixture
def relayed(dynamodb_endpoint: str) -> Iterator[tuple[str, Relay]]:
    """DynamoDB behind a relay that counts the connections made to it."""
    with tcp_relay(dynamodb_endpoint) as relay:
        yield relay


@pytest.fixture
def adapter(
    settings: Settings, table: str, relayed: tuple[str, Relay], lambda_thread: ThreadPoolExecutor
) -> Iterator[LambdaAdapter]:
    """A container's adapter, reaching DynamoDB through the relay; closed after the test."""
    url, _ = relayed
    adapter = LambdaAdapter(settings.model_copy(update={"dynamodb_endpoint": url, "auth_mode": "gateway"}))
    yield adapter
    lambda_thread.submit(adapter.close).result(timeout=30)


def _environment(settings: Settings, endpoint: str) -> dict[str, str]:
    """The function's environment variables for a child process."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_REGION": settings.aws_region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "TABLE_NAME": settings.table_name,
        "IDEMPOTENCY_TABLE_NAME": settings.idempotency_table_name,
        "AUTH_MODE": "gateway",
        "LOG_LEVEL": "WARNING",
    }


def test_importing_the_handler_initialises_the_function_and_registers_its_hooks(
    settings: Settings, table: str, relayed: tuple[str, Relay]
) -> None:
    """What a SnapStart snapshot captures is done at import: the app built, the client opened (and no
    DynamoDB call made), the hooks registered; nothing a request does not need is imported, and no garbage
    is collected meanwhile."""
    url, relay = relayed
    probe = """
import gc, json, sys
import snapshot_restore_py
collections = []

def collecting(phase, info):
    # Collections while the handler module's body runs: once it has imported gc, until it freezes.
    module = sys.modules.get("lambda_adapter.handler")
    if phase == "start" and hasattr(module, "gc") and not gc.get_freeze_count():
        collections.append(info["generation"])

gc.callbacks.append(collecting)
from lambda_adapter import handler
app = handler._adapter.app
print(json.dumps({
    "built": app is not None,
    "clients": app.state.backend.clients_opened if app else 0,
    "hooks": [len(snapshot_restore_py.get_before_snapshot()), len(snapshot_restore_py.get_after_restore())],
    "modules": sorted(sys.modules),
    "collections": len(collections),
    "collecting": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
}))
"""
    done = subprocess.run(  # noqa: S603 - this interpreter, running the probe above
        [sys.executable, "-P", "-c", probe],
        env=_environment(settings, url),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found = json.loads(done.stdout)
    assert (found["built"], found["clients"], found["hooks"]) == (True, 1, [1, 1])
    # No garbage is collected while the import builds what lasts as long as the process, which is then frozen.
    assert found["collections"] == 0
    assert found["collecting"]
    assert found["frozen"] > 100_000
    assert relay.made == 0, "opening the client sends nothing"
    # pythonjsonlogger is needed: the function's log lines are JSON (LOG_FORMAT's default).
    unneeded = {"uvicorn", "jwt", "tqdm", "moto", "service.cli", "service.storage.audit"}
    assert unneeded.isdisjoint(found["modules"])


def test_the_warm_up_answers_the_websites_first_requests_without_reaching_dynamodb(
    adapter: LambdaAdapter,
    relayed: tuple[str, Relay],
    lambda_thread: ThreadPoolExecutor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, relay = relayed
    caplog.set_level(logging.INFO, logger="service.requests")
    lambda_thread.submit(adapter.prepare).result(timeout=60)
    lambda_thread.submit(adapter.warm_up).result(timeout=60)
    answered = [r.getMessage() for r in caplog.records if r.name == "service.requests"]
    assert [line.split(" ")[:3] for line in answered] == [
        ["GET", "/service-request", "200"],
        ["OPTIONS", "/service-request", "200"],
        ["POST", "/service-request", "201"],
    ]
    assert relay.made == 0, "the warm-up's DynamoDB calls were answered on 127.0.0.1"
    response = lambda_thread.submit(adapter, rest_api("GET", "/service-request"), Context()).result(
        timeout=60
    )
    assert (response["statusCode"], json.loads(response["body"])) == (200, []), "the warm-up stored nothing"
    assert relay.made > 0


def _empty_answers(request: Request) -> Answer:
    """DynamoDB's answer to a call on an empty table."""
    operation = request.headers["X-Amz-Target"].rpartition(".")[2]
    body = {"Items": [], "Count": 0, "ScannedCount": 0} if operation == "Query" else {}
    return Answer(200, body, content_type="application/x-amz-json-1.0")


def test_a_restored_copy_drops_the_connections_it_was_restored_with(
    settings: Settings, lambda_thread: ThreadPoolExecutor
) -> None:
    # moto closes every connection after its answer; DynamoDB, like this stand-in, keeps them open.
    with json_server(_empty_answers, keep_alive=True) as dynamodb, tcp_relay(dynamodb) as (url, relay):
        adapter = LambdaAdapter(
            settings.model_copy(update={"dynamodb_endpoint": url, "auth_mode": "gateway"})
        )
        invoke = lambda_thread.submit
        try:
            first = invoke(adapter, rest_api("GET", "/service-request"), Context()).result(timeout=60)
            assert first["statusCode"] == 200
            assert relay.open > 0, "the client keeps its connections for the next call"
            invoke(adapter.restored).result(timeout=30)
            assert relay.wait_until_closed(), "every kept connection is closed"
            again = invoke(adapter, rest_api("GET", "/service-request"), Context()).result(timeout=60)
            assert again["statusCode"] == 200
            assert relay.open > 0, "new connections"
            assert adapter.app is not None
            assert adapter.app.state.backend.clients_opened == 1, "the same client"
        finally:
            invoke(adapter.close).result(timeout=30)


def _restored_copies(settings: Settings, endpoint: str, event: dict[str, Any], copies: int) -> list[Any]:
    command = [
        sys.executable,
        "-P",
        str(COPIES),
        "--copies",
        str(copies),
        "--hold-ulid-clock",
        json.dumps(event),
    ]
    done = subprocess.run(  # noqa: S603 - this interpreter, running the project's own script
        command,
        env=_environment(settings, endpoint),
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    result: list[Any] = json.loads(done.stdout.strip().splitlines()[-1])["copies"]
    return result


async def test_copies_restored_from_one_snapshot_never_make_the_same_id_or_random_numbers(
    settings: Settings, table: str, dynamodb_endpoint: str, dynamodb: DynamoDBClient
) -> None:
    """Every copy starts from the snapshot's memory, ULID generator included, and makes its first ids in
    the millisecond of the snapshot's last one (the clock held still), where a monotonic generator would
    continue from its saved state: each copy still makes ids of its own, and draws its own random numbers."""
    create = rest_api(
        "POST",
        "/requests",
        body=json.dumps(FORM),
        headers={"Content-Type": "application/json"},
        claims=CLAIMS,
    )
    copies = _restored_copies(settings, dynamodb_endpoint, create, copies=3)
    assert [copy["response"]["statusCode"] for copy in copies] == [201, 201, 201]
    ids = {json.loads(copy["response"]["body"])["service_id"] for copy in copies}
    stored = await dynamodb.query(
        TableName=table,
        KeyConditionExpression="license_plate = :plate",
        ExpressionAttributeValues={":plate": {"S": FORM["license_plate"]}},
    )
    assert {item["service_id"]["S"] for item in stored["Items"]} == ids
    assert len(ids) == 3
    assert len({copy["random"] for copy in copies}) == 3


def test_the_hooks_are_registered_with_the_runtimes_registry_and_skipped_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def before() -> None: ...

    def after() -> None: ...

    assert snapstart.register(before_snapshot=before, after_restore=after)
    assert snapshot_restore_py.get_before_snapshot()[-1][0] is before
    assert snapshot_restore_py.get_after_restore()[-1][0] is after
    snapshot_restore_py.get_before_snapshot().pop()
    snapshot_restore_py.get_after_restore().pop()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # as where the runtime does not provide it
    assert not snapstart.register(before_snapshot=before, after_restore=after)


def test_the_stack_snapshots_published_versions_and_the_api_invokes_them() -> None:
    template, problems = decode(str(ROOT / "template.yaml"))
    assert not problems
    function = template["Resources"]["GetServiceRequestFunction"]["Properties"]
    # On unless the `SnapStart` parameter turns it off, for an account that refuses it.
    assert template["Parameters"]["SnapStart"]["Default"] == "Enabled"
    assert template["Conditions"]["UseSnapStart"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "Enabled"]}
    assert function["SnapStart"] == {
        "Fn::If": ["UseSnapStart", {"ApplyOn": "PublishedVersions"}, {"Ref": "AWS::NoValue"}]
    }
    # With an alias to publish, SAM points every API event of the function at it, not at $LATEST.
    assert function["AutoPublishAlias"]
    assert template["Globals"]["Function"]["Runtime"] >= "python3.12", "SnapStart for Python starts at 3.12"
