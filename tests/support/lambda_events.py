"""Lambda events shaped as AWS sends them: API Gateway REST and HTTP APIs, Function URLs, ALB, console."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from mangum.types import LambdaCognitoIdentity, LambdaMobileClientContext

ACCOUNT = "123456789012"
CLAIMS = {
    "sub": "4f1c2b9e-technician",
    "cognito:username": "tech",
    "email": "tech@example.com",
    "token_use": "id",
    "aud": "website-client-id",
    "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1",
}


@dataclass
class Context:
    """What the Lambda runtime passes as `context`."""

    function_name: str = "getServiceRequest"
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:getServiceRequest"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "8f5a2b3c-1d4e-4f60-9a7b-0c1d2e3f4a5b"
    log_group_name: str = "/aws/lambda/getServiceRequest"
    log_stream_name: str = "2026/11/26/[$LATEST]0123456789abcdef"
    identity: LambdaCognitoIdentity | None = None
    client_context: LambdaMobileClientContext | None = None

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _body(body: str | None, base64_encoded: bool) -> str | None:
    if body is None or not base64_encoded:
        return body
    return base64.b64encode(body.encode()).decode()


def rest_api(
    method: str,
    path: str,
    *,
    query: str = "",
    body: str | None = None,
    headers: dict[str, str] | None = None,
    stage: str = "prod",
    domain: str = "abc123defg.execute-api.us-east-1.amazonaws.com",
    base_path: str = "",
    claims: dict[str, Any] | None = None,
    base64_encoded: bool = False,
    source_ip: str = "203.0.113.7",
) -> dict[str, Any]:
    """A REST API (v1) proxy event from `source_ip`. On the execute-api domain the URL carries the stage;
    on a custom domain it carries the base path mapping instead, which then also starts `path`."""
    all_headers = {
        "Accept": "application/json",
        "Host": domain,
        "User-Agent": "Mozilla/5.0",
        "X-Forwarded-For": source_ip,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    params = parse_qs(query, keep_blank_values=True)
    public_prefix = base_path if base_path else f"/{stage}"
    return {
        "resource": "/{proxy+}",
        "path": f"{base_path}{path}",
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in params.items()} or None,
        "multiValueQueryStringParameters": params or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abc123defg",
            "authorizer": {"claims": claims} if claims else None,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "extendedRequestId": "c3RhZ2U=",
            "httpMethod": method,
            "identity": {"sourceIp": source_ip, "userAgent": "Mozilla/5.0"},
            "path": f"{public_prefix}{path}",
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTime": "26/Nov/2026:15:36:45 +0000",
            "requestTimeEpoch": 1795707405000,
            "resourceId": "123456",
            "resourcePath": "/{proxy+}",
            "stage": stage,
        },
        "body": _body(body, base64_encoded),
        "isBase64Encoded": base64_encoded,
    }


def http_api(
    method: str,
    path: str,
    *,
    query: str = "",
    body: str | None = None,
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    stage: str = "$default",
    domain: str = "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
    claims: dict[str, Any] | None = None,
    base64_encoded: bool = False,
    function_url: bool = False,
    source_ip: str = "203.0.113.7",
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event from `source_ip`, or with `function_url` a Lambda Function URL
    event."""
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    params = parse_qs(query, keep_blank_values=True)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default" if function_url else "ANY /{proxy+}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {
            "accept": "application/json",
            "host": domain,
            "user-agent": "Mozilla/5.0",
            "x-forwarded-for": source_ip,
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **{k.lower(): v for k, v in (headers or {}).items()},
        },
        "requestContext": {
            "accountId": ACCOUNT if not function_url else "anonymous",
            "apiId": domain.split(".")[0],
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "Mozilla/5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default" if function_url else "ANY /{proxy+}",
            "stage": stage,
            "time": "26/Nov/2026:15:36:45 +0000",
            "timeEpoch": 1795707405000,
        },
        "isBase64Encoded": base64_encoded,
    }
    if params:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in params.items()}
    if cookies:
        event["cookies"] = cookies
    if claims:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    if body is not None:
        event["body"] = _body(body, base64_encoded)
    if not function_url:
        event["pathParameters"] = {"proxy": path.lstrip("/")}
    return event


def alb(
    method: str,
    path: str,
    *,
    query: str = "",
    body: str | None = None,
    headers: Mapping[str, str | list[str]] | None = None,
    multi_value: bool = False,
) -> dict[str, Any]:
    """An Application Load Balancer event. A header given as a list is one the ALB received several times
    (in that order): with `multi_value` (the target group's multi-value headers on) the event has every one,
    under `multiValueHeaders`; without, the last only, as the ALB passes it."""
    all_headers: dict[str, str | list[str]] = {
        "accept": "application/json",
        "host": "shop-alb-123456.us-east-1.elb.amazonaws.com",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "80",
        "x-forwarded-proto": "http",
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    params = parse_qs(query)
    event: dict[str, Any] = {
        "requestContext": {
            "elb": {
                "targetGroupArn": (
                    f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/shop/6d0ecf831eec9f09"
                )
            }
        },
        "httpMethod": method,
        "path": path,
        "body": body or "",
        "isBase64Encoded": False,
    }
    if multi_value:
        event["multiValueHeaders"] = {k: v if isinstance(v, list) else [v] for k, v in all_headers.items()}
        event["multiValueQueryStringParameters"] = params
    else:
        event["headers"] = {k: v[-1] if isinstance(v, list) else v for k, v in all_headers.items()}
        event["queryStringParameters"] = {k: v[-1] for k, v in params.items()}
    return event


def lambda_at_edge(
    method: str, uri: str, *, querystring: str = "", client_ip: str = "203.0.113.7"
) -> dict[str, Any]:
    """A Lambda@Edge viewer request event from CloudFront."""
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": "d111111abcdef8.cloudfront.net",
                        "distributionId": "EDFDVBD6EXAMPLE",
                        "eventType": "viewer-request",
                        "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
                    },
                    "request": {
                        "clientIp": client_ip,
                        "headers": {
                            "host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}],
                            "accept": [{"key": "Accept", "value": "application/json"}],
                        },
                        "method": method,
                        "querystring": querystring,
                        "uri": uri,
                    },
                }
            }
        ]
    }


CONSOLE_TEST_EVENTS: dict[str, dict[str, Any]] = {
    "empty": {},
    "hello-world template": {"key1": "value1", "key2": "value2", "key3": "value3"},
    "scheduled": {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-26T15:36:45Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/nightly"],
        "detail": {},
    },
}
