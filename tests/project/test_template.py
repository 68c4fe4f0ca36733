"""template.yaml: the function may make exactly the DynamoDB calls the service makes, each only on the table
it makes it on; given an existing role (the course's LabRole) the stack creates no IAM role or policy at all;
SnapStart, API Gateway's throttling of the public routes and the status events are on unless turned off."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.core.settings import Settings
from tests.support.calls import Calls, racing
from tests.support.cloudformation import created, expand_sam, lint_findings, load, of_type
from tests.support.helpers import FORM, new_request

ANONYMOUS = {"Authorization": ""}
KEY = {"Idempotency-Key": "template-check-0001"}
# The parameters without a default.
REQUIRED = {
    "UserPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123",
    "AllowedOrigin": "https://shop.example.com",
    "CursorSecret": "c" * 32,
}
LAB_ROLE = "arn:aws:iam::123456789012:role/LabRole"
LAB_TOPIC = "arn:aws:sns:us-east-1:123456789012:VehicleStatus"
STATUS_EVENTS = {
    "StatusEventsFunction",
    "StatusEventsFunctionStatusChanges",
    "StatusEventsLogs",
    "StatusEventFailures",
    "StatusTopic",
}


def _stack(**parameters: Any) -> dict[str, Any]:
    """What a stack of template.yaml creates with `parameters` (and REQUIRED), after the SAM transform."""
    given = {**REQUIRED, **parameters}
    return created(expand_sam(load("template.yaml"), given), given)


def _granted() -> set[tuple[str, str]]:
    """The function's DynamoDB permissions: (action, resource), resources named as the tests name tables."""
    names = {"VehicleServicesTable": "table", "IdempotencyKeysTable": "idempotency"}
    role = load("template.yaml")["Resources"]["GetServiceRequestRole"]["Properties"]
    granted = set()
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
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
    limits = {
        "PublicListRateLimit": 11,
        "PublicListBurstLimit": 12,
        "PublicFormRateLimit": 3,
        "PublicFormBurstLimit": 4,
    }
    stack = _stack(**limits)
    (stage,) = of_type(stack, "AWS::ApiGateway::Stage").values()
    throttled = {
        (s["ResourcePath"], s["HttpMethod"]): (s["ThrottlingRateLimit"], s["ThrottlingBurstLimit"])
        for s in stage["Properties"]["MethodSettings"]
    }
    assert throttled == {("/~1service-request", "GET"): (11, 12), ("/~1service-request", "POST"): (3, 4)}
    template = load("template.yaml")
    for name in limits:
        assert template["Parameters"][name]["Default"] >= 1
    events = template["Resources"]["GetServiceRequestFunction"]["Properties"]["Events"].values()
    public = [e["Properties"]["Method"] for e in events if e["Properties"]["Path"] == "/service-request"]
    assert sorted(public) == ["GET", "OPTIONS", "POST"], "one method per event, so each is throttled alone"


def test_given_an_existing_role_the_stack_creates_no_iam_role_or_policy() -> None:
    """Every function runs on the given role, the stream's event source (which reads the stream and sends to
    the failure queue as its function's role) included; nothing of IAM is left, inline policies neither."""
    stack = _stack(ExistingRoleArn=LAB_ROLE)
    assert of_type(stack, "AWS::IAM::") == {}
    functions = of_type(stack, "AWS::Lambda::Function")
    assert set(functions) == {"GetServiceRequestFunction", "StatusEventsFunction"}
    for function in functions.values():
        assert function["Properties"]["Role"] == LAB_ROLE
    (stream,) = of_type(stack, "AWS::Lambda::EventSourceMapping").values()
    assert stream["Properties"]["FunctionName"] == {"Ref": "StatusEventsFunction"}


def test_without_a_role_each_function_gets_a_least_privilege_role_of_its_own() -> None:
    stack = _stack()
    roles = of_type(stack, "AWS::IAM::")
    assert set(roles) == {"GetServiceRequestRole", "StatusEventsRole"}
    assert {r["Type"] for r in roles.values()} == {"AWS::IAM::Role"}
    functions = of_type(stack, "AWS::Lambda::Function")
    for function, role in (
        ("GetServiceRequestFunction", "GetServiceRequestRole"),
        ("StatusEventsFunction", "StatusEventsRole"),
    ):
        assert functions[function]["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    for role in roles.values():
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                action = statement["Action"]
                assert statement["Resource"] != "*"
                assert not [a for a in (action if isinstance(action, list) else [action]) if "*" in a]
    # The API's function may not publish; the stream's may not touch the tables.
    api_actions = str(roles["GetServiceRequestRole"]["Properties"]["Policies"])
    stream_actions = str(roles["StatusEventsRole"]["Properties"]["Policies"])
    assert "sns:" not in api_actions
    assert "dynamodb:PutItem" not in stream_actions


@pytest.mark.parametrize("role", ["", LAB_ROLE])
def test_the_expanded_template_passes_cfn_lint(role: str) -> None:
    """The template as the SAM transform hands it to CloudFormation, checked as plain CloudFormation (the
    transform writes the user pool's ARN into the authorizer itself, so that parameter goes unused)."""
    given = {**REQUIRED, "ExistingRoleArn": role}
    assert lint_findings(expand_sam(load("template.yaml"), given), ignore=frozenset({"W2001"})) == []


def test_snapstart_throttling_and_status_events_are_on_unless_turned_off() -> None:
    on = _stack()
    function = on["Resources"]["GetServiceRequestFunction"]["Properties"]
    assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    (stage,) = of_type(on, "AWS::ApiGateway::Stage").values()
    assert len(stage["Properties"]["MethodSettings"]) == 2
    assert set(on["Resources"]) >= STATUS_EVENTS
    assert {"StatusTopicArn", "StatusEventFailuresQueue"} <= set(on["Outputs"])

    off = _stack(SnapStart="Disabled", PublicRouteThrottling="Disabled", StatusEvents="Disabled")
    assert "SnapStart" not in off["Resources"]["GetServiceRequestFunction"]["Properties"]
    (stage,) = of_type(off, "AWS::ApiGateway::Stage").values()
    assert "MethodSettings" not in stage["Properties"]
    assert set(off["Resources"]) & (STATUS_EVENTS | {"StatusEventsRole"}) == set()
    assert set(of_type(off, "AWS::Lambda::Function")) == {"GetServiceRequestFunction"}
    assert {"StatusTopicArn", "StatusEventFailuresQueue"} & set(off["Outputs"]) == set()
    # The API itself is the same either way.
    assert of_type(off, "AWS::Lambda::Permission").keys() == of_type(on, "AWS::Lambda::Permission").keys()


@pytest.mark.parametrize("role", ["", LAB_ROLE])
@pytest.mark.parametrize("topic", ["", LAB_TOPIC])
@pytest.mark.parametrize("events", ["Enabled", "Disabled"])
def test_every_combination_refers_only_to_what_it_creates(role: str, topic: str, events: str) -> None:
    """CloudFormation refuses a stack that names a resource its conditions leave out; `created` fails too."""
    stack = _stack(ExistingRoleArn=role, StatusTopicArn=topic, StatusEvents=events)
    publisher = stack["Resources"].get("StatusEventsFunction")
    if events == "Enabled":
        environment = publisher["Properties"]["Environment"]["Variables"]
        assert environment["STATUS_TOPIC_ARN"] == (topic or {"Ref": "StatusTopic"})
        assert ("StatusTopic" in stack["Resources"]) == (topic == "")
    else:
        assert publisher is None
        assert "StatusTopic" not in stack["Resources"]
