"""What bench/latency.py measures: the website's five calls and the REST routes as API Gateway REST proxy
events for the service's handler, and the same five calls for the course's Node.js functions."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bench.latency_course import CourseCode

Side = Literal["service", "course"]

# The lab's rows (`python -m service init-table --seed` stores them) and the plates the writes use; the
# benchmark empties the write plates' partitions before every batch.
LAB_PLATE, LAB_ID = "1J1957", "2"
OTHER_LAB_PLATE, OTHER_LAB_ID = "8B1111", "1"
TYPED_PLATE = "1j1957"  # the same vehicle as typed in lower case
FORM_PLATE, COURSE_FORM_PLATE, REST_PLATE, DELETE_PLATE = "7FRM001", "7FRM002", "7NEW001", "7DEL001"
WRITE_PLATES = (FORM_PLATE, COURSE_FORM_PLATE, REST_PLATE, DELETE_PLATE)
# What API Gateway's Cognito authorizer passes on for a signed-in technician (AUTH_MODE=gateway).
CLAIMS = {
    "sub": "4f1c2b9e-technician",
    "cognito:username": "tech",
    "email": "tech@example.com",
    "token_use": "id",
}
# Statuses the writes alternate between, so that every write is a change: each item starts at the first.
PUT_STATUSES = ("Accepted", "Being Serviced")
PATCH_STATUSES = ("Being Serviced", "Waiting for Parts")


def rest_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
    resource: str = "/{proxy+}",
    path_parameters: dict[str, str] | Literal["proxy"] | None = "proxy",
) -> dict[str, Any]:
    """An API Gateway REST API (v1) proxy event on the `prod` stage of the execute-api domain, from one
    customer's address; `resource` and `path_parameters` as the API declares the route (a `{proxy+}` resource
    for the service, the course's own resources for its functions)."""
    domain = "abc123defg.execute-api.us-east-1.amazonaws.com"
    all_headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Host": domain,
        "User-Agent": "Mozilla/5.0",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")} if path_parameters == "proxy" else path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "authorizer": {"claims": claims} if claims else None,
            "domainName": domain,
            "domainPrefix": "abc123defg",
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0"},
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTimeEpoch": 1795707405000,
            "resourceId": "123456",
            "resourcePath": resource,
            "stage": "prod",
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def _form(plate: str, n: int) -> dict[str, str]:
    # Every form a new one: the same form again within the duplicate window would be answered as the first.
    return {
        "service_description": f"Oil change and tire rotation, synthetic oil please (visit {n})",
        "phone_number": "208-555-0100",
        "license_plate": plate,
    }


# An invocation of call number `n` (counted across the whole run, so every one is new).
Invocation = Callable[[int], Any]


@dataclass(frozen=True)
class Call:
    key: str
    side: Side
    label: str
    invocation: Invocation
    expect: int = 200
    answer: str | None = None  # a text the answer's body must hold
    # The course's: the module (the lab's dynamoService.mjs, or an index.mjs) and what to call in it.
    module: str = ""
    export: str = "handler"
    delete_targets: bool = False  # the batch needs one stored request to delete per invocation


def _technician(method: str, path: str, body: Any = None, **more: Any) -> dict[str, Any]:
    return rest_event(method, path, body=body, claims=CLAIMS, **more)


def service_calls() -> list[Call]:
    admin = "/admin-service-request"
    return [
        Call("list", "service", "GET /service-request", lambda n: rest_event("GET", "/service-request")),
        Call(
            "form",
            "service",
            "POST /service-request",
            lambda n: rest_event("POST", "/service-request", body=_form(FORM_PLATE, n)),
            expect=201,
        ),
        Call(
            "form-key",
            "service",
            "POST /service-request, Idempotency-Key",
            lambda n: rest_event(
                "POST",
                "/service-request",
                body=_form(FORM_PLATE, n),
                headers={"Idempotency-Key": f"bench-form-{n}"},
            ),
            expect=201,
        ),
        Call("admin", "service", f"GET {admin}", lambda n: _technician("GET", admin)),
        Call(
            "update",
            "service",
            f"PUT {admin}/{LAB_ID}, plate {LAB_PLATE}",
            lambda n: _technician(
                "PUT",
                f"{admin}/{LAB_ID}",
                {"license_plate": LAB_PLATE, "service_status": PUT_STATUSES[(n + 1) % 2]},
            ),
            answer="Successfully updated",
        ),
        Call(
            "update-typed",
            "service",
            f"PUT {admin}/{LAB_ID}, plate {TYPED_PLATE}",
            lambda n: _technician(
                "PUT",
                f"{admin}/{LAB_ID}",
                {"license_plate": TYPED_PLATE, "service_status": PUT_STATUSES[(n + 1) % 2]},
            ),
            answer="Successfully updated",
        ),
        Call(
            "history",
            "service",
            f"GET {admin}/vehicle-history/{LAB_PLATE}",
            lambda n: _technician("GET", f"{admin}/vehicle-history/{LAB_PLATE}"),
            answer=LAB_PLATE,
        ),
        Call(
            "history-typed",
            "service",
            f"GET {admin}/vehicle-history/{TYPED_PLATE}",
            lambda n: _technician("GET", f"{admin}/vehicle-history/{TYPED_PLATE}"),
            answer=LAB_PLATE,
        ),
        Call(
            "rest-create",
            "service",
            "POST /requests",
            lambda n: _technician("POST", "/requests", _form(REST_PLATE, n)),
            expect=201,
        ),
        Call(
            "rest-get",
            "service",
            f"GET /requests/{OTHER_LAB_PLATE}/{OTHER_LAB_ID}",
            lambda n: _technician("GET", f"/requests/{OTHER_LAB_PLATE}/{OTHER_LAB_ID}"),
        ),
        Call(
            "rest-patch",
            "service",
            f"PATCH /requests/{OTHER_LAB_PLATE}/{OTHER_LAB_ID}",
            lambda n: _technician(
                "PATCH",
                f"/requests/{OTHER_LAB_PLATE}/{OTHER_LAB_ID}",
                {"service_status": PATCH_STATUSES[(n + 1) % 2]},
            ),
        ),
        Call(
            "rest-delete",
            "service",
            f"DELETE /requests/{DELETE_PLATE}/{{id}}",
            lambda n: _technician("DELETE", f"/requests/{DELETE_PLATE}/{delete_id(n)}"),
            expect=204,
            delete_targets=True,
        ),
        Call(
            "rest-vehicle",
            "service",
            f"GET /vehicles/{LAB_PLATE}/requests",
            lambda n: _technician("GET", f"/vehicles/{LAB_PLATE}/requests"),
            answer=LAB_PLATE,
        ),
        Call(
            "rest-vehicle-typed",
            "service",
            f"GET /vehicles/{TYPED_PLATE}/requests",
            lambda n: _technician("GET", f"/vehicles/{TYPED_PLATE}/requests"),
            answer=LAB_PLATE,
        ),
        Call(
            "rest-status",
            "service",
            "GET /requests?status=Accepted",
            lambda n: _technician("GET", "/requests", query={"status": "Accepted"}),
        ),
        Call(
            "rest-active", "service", "GET /requests/active", lambda n: _technician("GET", "/requests/active")
        ),
    ]


def delete_id(n: int) -> str:
    """The id of the request that invocation `n` of the DELETE removes (stored before its batch)."""
    return f"bench-delete-{n:06d}"


def course_calls(code: CourseCode) -> list[Call]:
    admin = "/admin-service-request"

    def update(plate: str) -> Invocation:
        return lambda n: rest_event(
            "PUT",
            f"{admin}/{LAB_ID}",
            body={"license_plate": plate, "service_status": PUT_STATUSES[(n + 1) % 2]},
            resource=f"{admin}/{{id}}",
            path_parameters={"id": LAB_ID},
        )

    def history(plate: str) -> Invocation:
        return lambda n: rest_event(
            "GET",
            f"{admin}/vehicle-history/{plate}",
            resource=f"{admin}/vehicle-history/{{id}}",
            path_parameters={"id": plate},
        )

    return [
        Call(
            "course-list",
            "course",
            "lab, getDynamoServiceRequests (module 5)",
            lambda n: {"args": []},
            module=str(code.lab),
            export="getDynamoServiceRequests",
        ),
        Call(
            "course-form",
            "course",
            "module 6 handler, POST",
            lambda n: rest_event(
                "POST",
                "/service-request",
                body=_form(COURSE_FORM_PLATE, n),
                resource="/service-request",
                path_parameters=None,
            ),
            answer="Successfully added",
            module=str(code.form),
        ),
        Call(
            "course-admin",
            "course",
            "module 7 handler, GET",
            lambda n: rest_event("GET", admin, resource=admin, path_parameters=None),
            module=str(code.admin),
        ),
        Call(
            "course-update",
            "course",
            f"module 7 handler, PUT, plate {LAB_PLATE}",
            update(LAB_PLATE),
            answer="Successfully updated",
            module=str(code.admin),
        ),
        Call(
            "course-update-typed",
            "course",
            f"module 7 handler, PUT, plate {TYPED_PLATE}: none found",
            update(TYPED_PLATE),
            answer="No record found",
            module=str(code.admin),
        ),
        Call(
            "course-history",
            "course",
            f"module 9 handler, GET {LAB_PLATE}",
            history(LAB_PLATE),
            answer=LAB_PLATE,
            module=str(code.history),
        ),
        Call(
            "course-history-typed",
            "course",
            f"module 9 handler, GET {TYPED_PLATE}: none found",
            history(TYPED_PLATE),
            answer="[]",
            module=str(code.history),
        ),
    ]


@dataclass(frozen=True)
class Row:
    """A row of the website's part of the table: a call, the course's call it is compared with, and the
    target of that ratio (p50 against p50) when it is one of the website's five."""

    key: str
    versus: str | None = None
    target: float | None = None
    name: str = ""


# The page sends back the plate the lists gave it, and a customer's form carries no Idempotency-Key: the
# other service rows are compared with the same course function, but are no ratio targets.
WEBSITE_ROWS = (
    Row("list", "course-list", 1.2, "public list"),
    Row("course-list"),
    Row("form", "course-form", 1.5, "public form"),
    Row("form-key", "course-form"),
    Row("course-form"),
    Row("admin", "course-admin", 1.2, "admin list"),
    Row("course-admin"),
    Row("update", "course-update", 1.2, "status update"),
    Row("update-typed", "course-update"),
    Row("course-update"),
    Row("course-update-typed"),
    Row("history", "course-history", 1.2, "vehicle history"),
    Row("history-typed", "course-history"),
    Row("course-history"),
    Row("course-history-typed"),
)
# What runs again at the second, longer delay: the round trips of a typed plate.
SLOW_CALLS = (
    "update-typed",
    "history-typed",
    "rest-vehicle-typed",
    "update",
    "course-update",
    "course-history",
)
