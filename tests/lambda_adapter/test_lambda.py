"""The Lambda handler: every event type AWS sends, the console's test invoke, and one client per container."""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

import pytest

from lambda_adapter import handler as handler_module
from lambda_adapter.handler import LambdaAdapter
from service.core.settings import Settings
from service.storage.backend import Backend
from service.storage.guard import missing_table
from tests.support.helpers import FORM
from tests.support.lambda_events import (
    CLAIMS,
    CONSOLE_TEST_EVENTS,
    Context,
    alb,
    http_api,
    lambda_at_edge,
    rest_api,
)

WEBSITE = "https://quick-oil.example"
FORM_BODY = json.dumps(FORM)


@pytest.fixture(scope="module")
def lambda_thread() -> Iterator[ThreadPoolExecutor]:
    """One thread runs every invocation, as in a Lambda container."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda") as thread:
        yield thread


@pytest.fixture
def lambda_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth_mode": "gateway", "cors_origins": [WEBSITE]})


class Invoker:
    def __init__(self, adapter: LambdaAdapter, thread: ThreadPoolExecutor) -> None:
        self.adapter = adapter
        self.thread = thread

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.thread.submit(self.adapter, event, Context()).result(timeout=60)
        return result

    @property
    def backend(self) -> Backend:
        assert self.adapter.app is not None
        backend: Backend = self.adapter.app.state.backend
        return backend


@pytest.fixture
def make_invoker(lambda_thread: ThreadPoolExecutor) -> Iterator[Callable[[LambdaAdapter], Invoker]]:
    """Invokers of fresh adapters (containers), closed after the test."""
    adapters: list[LambdaAdapter] = []

    def make(adapter: LambdaAdapter) -> Invoker:
        adapters.append(adapter)
        return Invoker(adapter, lambda_thread)

    yield make
    for adapter in adapters:
        lambda_thread.submit(adapter.close).result(timeout=30)


@pytest.fixture
def invoke(
    lambda_settings: Settings, table: str, make_invoker: Callable[[LambdaAdapter], Invoker]
) -> Invoker:
    return make_invoker(LambdaAdapter(lambda_settings))


def _json(response: dict[str, Any]) -> Any:
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body)


def _seed_active(invoke: Invoker) -> None:
    create = rest_api(
        "POST",
        "/requests",
        body=json.dumps({**FORM, "service_status": "Accepted"}),
        headers={"Content-Type": "application/json"},
        claims=CLAIMS,
    )
    assert invoke(create)["statusCode"] == 201


def test_rest_api_public_list_with_stage_prefix_and_cors(invoke: Invoker) -> None:
    _seed_active(invoke)
    response = invoke(rest_api("GET", "/service-request", headers={"Origin": WEBSITE}))
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is False
    assert response["headers"]["content-type"] == "application/json"
    assert response["headers"]["access-control-allow-origin"] == "*", "the public list is for any page"
    (row,) = _json(response)
    assert row["service_status"] == "Accepted"
    assert row["phone_number"] == "5309"


def test_rest_api_base64_body_and_location_keeps_the_stage(invoke: Invoker) -> None:
    created = invoke(
        rest_api(
            "POST",
            "/requests",
            body=FORM_BODY,
            headers={"Content-Type": "application/json"},
            claims=CLAIMS,
            base64_encoded=True,
        )
    )
    assert created["statusCode"] == 201
    item = _json(created)
    assert created["headers"]["location"] == (
        f"https://abc123defg.execute-api.us-east-1.amazonaws.com/prod/requests/1J1957/{item['service_id']}"
    )
    public = invoke(
        rest_api("POST", "/service-request", body=FORM_BODY, headers={"Content-Type": "application/json"})
    )
    assert (public["statusCode"], _json(public)) == (201, "Successfully added new service request")


def test_rest_api_on_a_custom_domain_base_path(
    lambda_settings: Settings, table: str, make_invoker: Callable[[LambdaAdapter], Invoker]
) -> None:
    settings = lambda_settings.model_copy(update={"api_gateway_base_path": "/shop"})
    invoke = make_invoker(LambdaAdapter(settings))
    event = rest_api("GET", "/service-request", domain="api.quick-oil.example", base_path="/shop")
    assert event["path"] == "/shop/service-request"
    response = invoke(event)
    assert (response["statusCode"], _json(response)) == (200, [])
    docs = invoke(rest_api("GET", "/docs", domain="api.quick-oil.example", base_path="/shop"))
    assert "/shop/openapi.json" in docs["body"]


@pytest.mark.parametrize("event", [rest_api, http_api], ids=["REST API", "HTTP API"])
def test_a_405_through_api_gateway_names_the_allowed_methods(
    invoke: Invoker, event: Callable[..., dict[str, Any]]
) -> None:
    response = invoke(event("DELETE", "/service-request"))
    assert response["statusCode"] == 405
    assert response["headers"]["allow"] == "GET, POST"


def test_rest_api_technician_routes_need_the_authorizers_claims(invoke: Invoker) -> None:
    without = invoke(rest_api("GET", "/admin-service-request"))
    assert without["statusCode"] == 401
    assert _json(without)["code"] == "unauthorized"
    with_claims = invoke(rest_api("GET", "/admin-service-request", claims=CLAIMS))
    assert (with_claims["statusCode"], _json(with_claims)) == (200, [])


def test_rest_api_preflight_is_answered_with_the_cors_grant(invoke: Invoker) -> None:
    response = invoke(
        rest_api(
            "OPTIONS",
            "/admin-service-request/1",
            headers={
                "Origin": WEBSITE,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "content-type,authorization",
            },
        )
    )
    assert response["statusCode"] == 200
    assert response["headers"]["access-control-allow-origin"] == WEBSITE
    assert "PUT" in response["headers"]["access-control-allow-methods"]


def test_http_api_with_cookies_repeated_query_parameters_and_a_named_stage(invoke: Invoker) -> None:
    _seed_active(invoke)
    response = invoke(
        http_api(
            "GET",
            "/requests",
            query="status=Completed&status=Accepted&limit=5",
            cookies=["session=abc", "theme=dark"],
            stage="prod",
            claims=CLAIMS,
        )
    )
    assert response["statusCode"] == 200, response
    page = _json(response)
    assert [i["service_status"] for i in page["items"]] == ["Accepted"], "the last of repeated values counts"
    created = invoke(
        http_api(
            "POST",
            "/requests",
            body=FORM_BODY,
            headers={"Content-Type": "application/json"},
            stage="prod",
            claims=CLAIMS,
        )
    )
    assert created["statusCode"] == 201
    assert "/prod/requests/1J1957/" in created["headers"]["location"]


def test_http_api_base64_body_and_missing_claims(invoke: Invoker) -> None:
    created = invoke(
        http_api(
            "POST",
            "/service-request",
            body=FORM_BODY,
            headers={"Content-Type": "application/json"},
            base64_encoded=True,
        )
    )
    assert (created["statusCode"], _json(created)) == (201, "Successfully added new service request")
    assert invoke(http_api("GET", "/admin-service-request"))["statusCode"] == 401
    assert invoke(http_api("GET", "/admin-service-request", claims=CLAIMS))["statusCode"] == 200


def test_function_url_events(invoke: Invoker) -> None:
    domain = "a1b2c3d4e5f6g7h8.lambda-url.us-east-1.on.aws"
    health = invoke(http_api("GET", "/healthz", function_url=True, domain=domain))
    assert (health["statusCode"], _json(health)) == (200, {"status": "ok"})
    created = invoke(
        http_api(
            "POST",
            "/service-request",
            body=FORM_BODY,
            headers={"Content-Type": "application/json", "Origin": WEBSITE},
            function_url=True,
            domain=domain,
            base64_encoded=True,
        )
    )
    assert created["statusCode"] == 201
    assert created["headers"]["access-control-allow-origin"] == "*", "the public form is for any page"
    invalid = invoke(
        http_api(
            "POST",
            "/service-request",
            body="{}",
            headers={"Content-Type": "application/json"},
            function_url=True,
            domain=domain,
        )
    )
    assert invalid["statusCode"] == 422
    assert {f["field"] for f in _json(invalid)["fields"]} == {
        "service_description",
        "phone_number",
        "license_plate",
    }


def test_alb_events(invoke: Invoker) -> None:
    _seed_active(invoke)
    response = invoke(alb("GET", "/service-request"))
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert response["isBase64Encoded"] is False
    assert len(_json(response)) == 1
    missing = invoke(alb("GET", "/nothing"))
    assert (missing["statusCode"], _json(missing)["code"]) == (404, "not_found")


@pytest.mark.parametrize("name", sorted(CONSOLE_TEST_EVENTS))
def test_console_test_invoke_answers_the_public_list_like_the_labs_lambda(invoke: Invoker, name: str) -> None:
    _seed_active(invoke)
    response = invoke(CONSOLE_TEST_EVENTS[name])
    assert set(response) == {"statusCode", "headers", "body"}
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["access-control-allow-origin"] == "*", "as the lab's Lambda answered"
    same_as_route = _json(invoke(rest_api("GET", "/service-request")))
    assert json.loads(response["body"]) == same_as_route
    assert len(same_as_route) == 1


def test_console_test_invoke_failure_is_a_500_json_message(
    lambda_settings: Settings,
    make_invoker: Callable[[LambdaAdapter], Invoker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    invoke = make_invoker(LambdaAdapter(lambda_settings))  # no `table` fixture: there is no table
    response = invoke({"key1": "value1"})
    assert response["statusCode"] == 500
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"]) == {"message": missing_table(lambda_settings.table_name)}
    assert "direct invocation failed with 503" in caplog.text


def test_warm_invocations_reuse_one_dynamodb_client(invoke: Invoker) -> None:
    events = [
        rest_api("GET", "/service-request"),
        http_api("GET", "/healthz"),
        alb("GET", "/service-request"),
        CONSOLE_TEST_EVENTS["empty"],
        rest_api("POST", "/service-request", body=FORM_BODY, headers={"Content-Type": "application/json"}),
    ]
    responses = [invoke(event) for _ in range(6) for event in events]
    assert all(r["statusCode"] in (200, 201) for r in responses)
    assert invoke.backend.clients_opened == 1


def test_the_module_handler_reads_its_configuration_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, lambda_settings: Settings, table: str, lambda_thread: ThreadPoolExecutor
) -> None:
    environment = {
        "AWS_ENDPOINT_URL_DYNAMODB": lambda_settings.dynamodb_endpoint or "",
        "AWS_REGION": lambda_settings.aws_region,
        "TABLE_NAME": lambda_settings.table_name,
        "AUTH_MODE": "gateway",
        "CORS_ORIGINS": WEBSITE,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    adapter = LambdaAdapter()
    monkeypatch.setattr(handler_module, "_adapter", adapter)
    try:
        response = lambda_thread.submit(handler_module.handler, {}, Context()).result(timeout=60)
        assert (response["statusCode"], json.loads(response["body"])) == (200, [])
        admin = lambda_thread.submit(
            handler_module.handler, rest_api("GET", "/admin-service-request"), Context()
        )
        assert admin.result(timeout=60)["statusCode"] == 401
    finally:
        lambda_thread.submit(adapter.close).result(timeout=30)


def test_a_misconfigured_function_answers_500_without_internals(
    monkeypatch: pytest.MonkeyPatch, lambda_thread: ThreadPoolExecutor
) -> None:
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "DYNAMODB_MODE"):
        monkeypatch.delenv(name, raising=False)
    adapter = LambdaAdapter()
    response = lambda_thread.submit(adapter, rest_api("GET", "/healthz"), Context()).result(timeout=60)
    lambda_thread.submit(adapter.close).result(timeout=30)
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"message": "internal error; it has been logged"}


def _forms(count: int) -> list[str]:
    return [json.dumps({**FORM, "service_description": f"visit {n}"}) for n in range(count)]


JSON = {"Content-Type": "application/json"}


@pytest.fixture
def limited_invoke(
    lambda_settings: Settings, table: str, make_invoker: Callable[[LambdaAdapter], Invoker]
) -> Invoker:
    # A day's window: a test rarely runs across the edge of one, where the count starts again.
    limits = {"public_create_limit": 2, "public_create_window_seconds": 86_400}
    return make_invoker(LambdaAdapter(lambda_settings.model_copy(update=limits)))


def test_on_api_gateway_anonymous_creates_count_by_the_events_source_address(limited_invoke: Invoker) -> None:
    """X-Forwarded-For is the caller's to write: each form below claims another address in it, from one
    source address."""
    spoofed = [
        rest_api("POST", "/service-request", body=body, headers={**JSON, "X-Forwarded-For": f"10.0.0.{n}"})
        for n, body in enumerate(_forms(3))
    ]
    assert [limited_invoke(event)["statusCode"] for event in spoofed] == [201, 201, 429]
    other_source = rest_api(
        "POST", "/service-request", body=_forms(4)[3], headers=JSON, source_ip="198.51.100.9"
    )
    assert limited_invoke(other_source)["statusCode"] == 201
    on_http_api = http_api("POST", "/service-request", body=_forms(5)[4], headers=JSON)
    assert limited_invoke(on_http_api)["statusCode"] == 429


def test_behind_an_alb_anonymous_creates_count_by_the_address_the_load_balancer_saw(
    limited_invoke: Invoker,
) -> None:
    """The load balancer appends the address it saw to the X-Forwarded-For the caller sent: a caller
    writing other addresses there is still counted by its own, and a customer behind a proxy (which adds
    an entry of its own) by the proxy's, apart from that caller."""
    forms = _forms(4)
    chains = [f"10.0.0.{n}, 203.0.113.7" for n in range(3)]
    events = [
        alb("POST", "/service-request", body=body, headers={**JSON, "X-Forwarded-For": chain})
        for chain, body in zip(chains, forms[:3], strict=True)
    ]
    answers = [limited_invoke(event) for event in events]
    assert [answer["statusCode"] for answer in answers] == [201, 201, 429]
    assert answers[2]["headers"]["retry-after"].isdigit()
    behind_a_proxy = {**JSON, "X-Forwarded-For": "192.168.1.5, 198.51.100.20"}
    assert (
        limited_invoke(alb("POST", "/service-request", body=forms[3], headers=behind_a_proxy))["statusCode"]
        == 201
    )


# AWS documents that an ALB (in its default `append` mode) adds the address it saw to the end of the
# X-Forwarded-For it received; not how, when the caller sent that header more than once. Each way it could:
_ALB_ADDS: dict[str, Callable[[list[str], str], list[str]]] = {
    "to the caller's last line": lambda lines, seen: [*lines[:-1], f"{lines[-1]}, {seen}"],
    "as a line of its own": lambda lines, seen: [*lines, seen],
    "as a line before the caller's": lambda lines, seen: [seen, *lines],
    "after joining the caller's lines": lambda lines, seen: [", ".join([*lines, seen])],
}


@pytest.mark.parametrize("adds", sorted(_ALB_ADDS))
@pytest.mark.parametrize("multi_value", [False, True], ids=["headers", "multiValueHeaders"])
def test_behind_an_alb_x_forwarded_for_sent_several_times_counts_by_the_address_the_alb_saw(
    limited_invoke: Invoker, multi_value: bool, adds: str
) -> None:
    """A caller sending X-Forwarded-For several times, each time with other addresses (one a list), never
    raises its limit, wherever the load balancer puts the address it saw, in either shape of the event. The
    event names one caller by one value (the ALB's entry last): another caller counts apart. Where it keeps
    several values, the caller may have written the last one: all such callers count as one."""
    forms = _forms(5)

    def event(n: int, seen: str) -> dict[str, Any]:
        lines = [f"10.0.{n}.1", f"10.1.{n}.1, 10.2.{n}.1"]
        headers: dict[str, str | list[str]] = {**JSON, "X-Forwarded-For": _ALB_ADDS[adds](lines, seen)}
        return alb("POST", "/service-request", body=forms[n], headers=headers, multi_value=multi_value)

    one_value = not multi_value or len(_ALB_ADDS[adds](["a", "b"], "c")) == 1
    if not one_value or adds != "as a line before the caller's":
        assert [limited_invoke(event(n, "198.51.100.20"))["statusCode"] for n in range(3)] == [201, 201, 429]
        other = limited_invoke(event(3, "198.51.100.21"))["statusCode"]
        assert other == (201 if one_value else 429)
    plain = {**JSON, "X-Forwarded-For": "198.51.100.22"}
    assert limited_invoke(alb("POST", "/service-request", body=forms[4], headers=plain))["statusCode"] == 201


@pytest.mark.parametrize(
    ("caller", "other"),
    [
        ("198.51.100.20:{port}", "198.51.100.21:{port}"),
        ("[2001:db8:7::{n}]:{port}", "[2001:db8:8::1]:{port}"),
    ],
    ids=["IPv4", "IPv6"],
)
@pytest.mark.parametrize("multi_value", [False, True], ids=["headers", "multiValueHeaders"])
def test_behind_an_alb_that_adds_the_clients_port_callers_count_by_their_address(
    limited_invoke: Invoker, multi_value: bool, caller: str, other: str
) -> None:
    """With `routing.http.xff_client_port.enabled` the load balancer adds `address:port` (`[address]:port`
    for IPv6): a caller's connections, each from another port (and, for IPv6, another address of its /64),
    count together, and another caller apart."""
    forms = _forms(4)

    def event(n: int, seen: str) -> dict[str, Any]:
        headers = {**JSON, "X-Forwarded-For": f"10.0.0.{n}, {seen}"}
        return alb("POST", "/service-request", body=forms[n], headers=headers, multi_value=multi_value)

    answers = [limited_invoke(event(n, caller.format(n=n + 1, port=50_000 + n))) for n in range(3)]
    assert [answer["statusCode"] for answer in answers] == [201, 201, 429]
    assert limited_invoke(event(3, other.format(port=50_003)))["statusCode"] == 201


_SECRET = "phone 208-555-0199"


def _without(event: dict[str, Any], *path: str | int) -> dict[str, Any]:
    """`event` (deep-copied) without the field at `path`."""
    copied = copy.deepcopy(event)
    container: Any = copied
    for key in path[:-1]:
        container = container[key]
    del container[path[-1]]
    return copied


def _with(event: dict[str, Any], value: Any, *path: str | int) -> dict[str, Any]:
    """`event` (deep-copied) with `value` at `path`."""
    copied = copy.deepcopy(event)
    container: Any = copied
    for key in path[:-1]:
        container = container[key]
    container[path[-1]] = value
    return copied


_FORM_POST = rest_api(
    "POST", "/service-request", body=json.dumps({**FORM, "phone_number": _SECRET}), headers=JSON
)
MALFORMED = {
    "a REST API event with its body a JSON object": (
        _with(_FORM_POST, {**FORM, "phone_number": _SECRET}, "body"),
        "body",
    ),
    "a REST API event without httpMethod": (_without(_FORM_POST, "httpMethod"), "httpMethod"),
    "a REST API event whose requestContext is a string": (
        _with(_FORM_POST, "x", "requestContext"),
        "requestContext",
    ),
    "a REST API event with base64 that is none": (
        {**_with(_FORM_POST, "A", "body"), "isBase64Encoded": True},
        "body",
    ),
    "an HTTP API event without requestContext.http": (
        _without(
            http_api("POST", "/service-request", body=json.dumps(FORM), headers=JSON),
            "requestContext",
            "http",
        ),
        "requestContext.http",
    ),
    "an HTTP API event with a header that is a number": (
        _with(http_api("GET", "/service-request"), 5, "headers", "accept"),
        "headers.accept",
    ),
    "a Function URL event with its body a list": (
        _with(http_api("POST", "/service-request", function_url=True), [_SECRET], "body"),
        "body",
    ),
    "an ALB event without headers": (
        _without(alb("POST", "/service-request", body=_SECRET), "headers"),
        "headers",
    ),
    "an ALB event whose multiValueHeaders are strings": (
        _with(
            alb("GET", "/service-request", multi_value=True),
            "203.0.113.7",
            "multiValueHeaders",
            "x-forwarded-for",
        ),
        "multiValueHeaders.x-forwarded-for",
    ),
    "an ALB event with a Host of two ports": (
        alb("GET", "/service-request", headers={"Host": "shop.example:80:81"}),
        "headers.host",
    ),
    "an ALB event with a header name that is no text": (
        _with(alb("GET", "/service-request"), "x", "headers", "x-\ud800"),
        "headers",
    ),
    "a Lambda@Edge event without clientIp": (
        _without(lambda_at_edge("GET", "/service-request"), "Records", 0, "cf", "request", "clientIp"),
        "Records[0].cf.request.clientIp",
    ),
}


def _status(answer: dict[str, Any]) -> int:
    """The status of a proxy answer (`statusCode`) or of a Lambda@Edge one (`status`)."""
    return int(answer["statusCode"] if "statusCode" in answer else answer["status"])


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_request_event_is_a_400_naming_the_field_and_logged_once_without_its_content(
    invoke: Invoker, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    event, field = MALFORMED[name]
    caplog.clear()
    answer = invoke(event)
    assert _status(answer) == 400
    headers = answer.get("headers") or answer.get("multiValueHeaders")
    assert headers is not None
    body = _json(answer)
    assert set(body) == {"code", "message", "fields"}
    assert body["code"] == "http_error"
    assert [(f["field"], f["location"]) for f in body["fields"]] == [(field, "event")]
    assert field in body["message"]
    logged = [record for record in caplog.records if record.name.startswith(("lambda_adapter", "mangum"))]
    assert [record.levelname for record in logged] == ["WARNING"]
    assert field in logged[0].getMessage()
    assert _SECRET not in caplog.text
    assert _SECRET not in answer["body"]
    listed = invoke(rest_api("GET", "/admin-service-request", claims=CLAIMS))
    assert (listed["statusCode"], _json(listed)) == (200, []), "nothing was stored"


_FUZZ_BASES = {
    "REST API": rest_api("GET", "/healthz", query="a=1&a=2"),
    "REST API, base64 body": rest_api("POST", "/healthz", body="{}", headers=JSON, base64_encoded=True),
    "HTTP API": http_api("GET", "/healthz", query="a=1", cookies=["c=1"], stage="prod"),
    "Function URL": http_api("POST", "/healthz", body="{}", function_url=True),
    "ALB": alb("GET", "/healthz", query="a=1"),
    "ALB, multi-value headers": alb("GET", "/healthz", query="a=1&a=2", multi_value=True),
    "Lambda@Edge": lambda_at_edge("GET", "/healthz"),
}
# Every JSON type, and strings that no header, path or body can be.
_FUZZ_VALUES: list[Any] = [None, 0, 1.5, True, "", "x", "é", "a:b:c", "\ud800"]
_FUZZ_VALUES += [[], ["x"], [1], {}, {"x": "y"}]
_DELETED = object()


def _fields(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every field of `value`, however deep, list items included."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, inner in items:
        yield (*path, key)
        yield from _fields(inner, (*path, key))


def _mutated(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    return _without(event, *path) if value is _DELETED else _with(event, value, *path)


@pytest.mark.parametrize("base", sorted(_FUZZ_BASES))
def test_no_event_of_any_shape_is_a_500(invoke: Invoker, base: str) -> None:
    """Each field of a request event, however deep, missing or replaced by a value of each JSON type: every
    answer is the app's, a 400 for the event, or the public list; none is a 5xx, and every error has the
    service's error body."""
    event = _FUZZ_BASES[base]
    assert _status(invoke(event)) in (200, 405), "the unchanged event is a request the app answers"
    wrong: list[str] = []
    for path in _fields(event):
        for value in [_DELETED, *_FUZZ_VALUES]:
            answer = invoke(_mutated(event, path, value))
            status = _status(answer)
            body = answer.get("body", "")
            shaped = status < 400 or set(json.loads(body)) == {"code", "message", "fields"}
            if status >= 500 or not shaped:
                wrong.append(f"{'.'.join(map(str, path))} = {value!r}: {status} {body[:80]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "event", [None, 5, "event", [], ["requestContext", "resource"], {"requestContext": 5}]
)
def test_an_event_that_is_no_request_answers_the_public_list(invoke: Invoker, event: Any) -> None:
    """Not an object, or an object that names no request: as any other direct invocation."""
    _seed_active(invoke)
    answer = invoke(event)
    assert answer["statusCode"] == 200
    assert len(json.loads(answer["body"])) == 1


_HOSTILE = "/<script>alert(1)</script>'\"><img src=x onerror=alert(2)>"


class _Markup(HTMLParser):
    """A page's elements and attribute names in order, the text of its scripts, and the URLs it loads."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, list[str]]] = []
        self.scripts: list[str] = []
        self.urls: list[str] = []
        self._in_script = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, [name for name, _ in attrs]))
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "spec-url")]
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)
            # The URLs a script names, in its string literals.
            literals = (json.loads(literal) for literal in _JS_STRING.findall(data))
            self.urls += [text for text in literals if text.startswith("/")]


_JS_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _docs_events(prefix: str, page: str) -> dict[str, dict[str, Any]]:
    """`page` under `prefix`: from a REST API whose event names it in `requestContext.path`, and from an
    HTTP API stage of that name."""
    rest = rest_api("GET", page)
    rest["requestContext"]["path"] = prefix + page
    return {"REST API": rest, "HTTP API": http_api("GET", page, stage=prefix.removeprefix("/"))}


@pytest.mark.parametrize("source", ["REST API", "HTTP API"])
@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_documentation_pages_escape_the_prefix_an_event_names(
    invoke: Invoker, page: str, source: str
) -> None:
    """A hostile prefix adds no element or attribute to the page and no quote or bracket to its scripts, and
    the page's URLs still lead under that prefix."""
    plain = invoke(_docs_events("/prod", page)[source])
    hostile = invoke(_docs_events(_HOSTILE, page)[source])
    assert (plain["statusCode"], hostile["statusCode"]) == (200, 200)
    expected, found = _Markup(plain["body"]), _Markup(hostile["body"])
    assert found.elements == expected.elements
    assert [url.replace("/prod/", "/", 1) for url in expected.urls] == [
        unquote(url).replace(f"{_HOSTILE}/", "/", 1) for url in found.urls
    ]
    assert len(found.scripts) == len(expected.scripts)
    for plain_script, hostile_script in zip(expected.scripts, found.scripts, strict=True):
        for quote_or_bracket in "<>'\"`":
            assert hostile_script.count(quote_or_bracket) == plain_script.count(quote_or_bracket)
    assert "<script>alert(1)" not in hostile["body"]
    assert "<img" not in hostile["body"]
