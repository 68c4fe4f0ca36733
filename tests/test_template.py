"""template.yaml: the function may make exactly the DynamoDB calls the service makes, each only on the table
it makes it on, and API Gateway throttles the public routes by parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from cfnlint.decode import cfn_yaml
from fastapi import FastAPI

from service.settings import Settings
from tests.calls import Calls, racing
from tests.helpers import FORM, new_request

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
ANONYMOUS = {"Authorization": ""}
KEY = {"Idempotency-Key": "template-check-0001"}


def _template() -> dict[str, Any]:
    template: dict[str, Any] = cfn_yaml.loads(TEMPLATE.read_text(encoding="utf-8"))
    return template


def _granted() -> set[tuple[str, str]]:
    """The function's DynamoDB permissions: (action, resource), resources named as the tests name tables."""
    names = {"VehicleServicesTable": "table", "IdempotencyKeysTable": "idempotency"}
    function = _template()["Resources"]["GetServiceRequestFunction"]["Properties"]
    granted = set()
    for policy in function["Policies"]:
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            resource = statement["Resource"]
            if "Fn::GetAtt" in resource:
                name, attribute = resource["Fn::GetAtt"]
                assert attribute == "Arn"
                where = names[name]
            else:
                assert resource == {"Fn::Sub": "${VehicleServicesTable.Arn}/index/StatusIndex"}
                where = "index"
            granted |= {(action.removeprefix("dynamodb:"), where) for action in statement["Action"]}
    return granted


async def test_the_policy_grants_exactly_the_dynamodb_calls_the_service_makes(
    app: FastAPI, app_api: httpx.AsyncClient, settings: Settings
) -> None:
    """Every route, with and without Idempotency-Key, replays, a 409 that frees its key, a call waiting for
    another that holds its key, and the probes."""
    calls = await Calls.of(app)
    assert (await app_api.get("/readyz")).status_code == 200
    for _ in range(2):
        assert (await app_api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    created = await app_api.post("/requests", json=new_request(service_id="job-1"))
    location = created.headers["location"]
    taken = await app_api.post("/requests", json=new_request(service_id="job-1"), headers=KEY)
    assert taken.status_code == 409
    answers = await racing(
        calls,
        settings,
        app_api.post("/requests", json=new_request(), headers=KEY),
        app_api.post("/requests", json=new_request(), headers=KEY),
    )
    assert [a.status_code for a in answers] == [201, 201]
    for path in (location, "/requests/active", "/requests?status=Accepted", "/vehicles/8B1111/requests"):
        assert (await app_api.get(path)).status_code == 200
    assert (await app_api.get("/service-request")).status_code == 200
    assert (await app_api.get("/admin-service-request")).status_code == 200
    assert (await app_api.patch(location, json={"service_status": "Accepted"})).status_code == 200
    assert (await app_api.delete(location)).status_code == 204

    names = {
        settings.table_name: "table",
        f"{settings.table_name}/index/StatusIndex": "index",
        settings.idempotency_table_name: "idempotency",
    }
    made = {(operation, names[table]) for operation, table in calls.made()}
    assert made == _granted()


def test_api_gateway_throttles_each_public_route_by_parameters() -> None:
    template = _template()
    parameters = template["Parameters"]
    api = template["Resources"]["ServiceApi"]["Properties"]
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in api["MethodSettings"]}
    events = template["Resources"]["GetServiceRequestFunction"]["Properties"]["Events"].values()
    public = [e["Properties"]["Method"] for e in events if e["Properties"]["Path"] == "/service-request"]
    assert sorted(public) == ["GET", "OPTIONS", "POST"], "one method per event, so each is throttled alone"
    for method in ("GET", "POST"):
        throttle = settings["/~1service-request", method]
        for limit in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
            parameter = parameters[throttle[limit]["Ref"]]
            assert parameter["Type"] == "Number"
            assert parameter["Default"] >= 1
