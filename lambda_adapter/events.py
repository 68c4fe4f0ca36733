"""Mangum event handlers for what API Gateway and the Lambda console send beyond Mangum's own handling."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote

from mangum.handlers import ALB, APIGateway, HTTPGateway, LambdaAtEdge
from mangum.types import LambdaConfig, LambdaContext, LambdaEvent, Response, Scope

log = logging.getLogger(__name__)

_BUILT_IN = (ALB, HTTPGateway, APIGateway, LambdaAtEdge)
PUBLIC_LIST = "/service-request"


def _mounted_at(scope: Scope, prefix: str) -> Scope:
    # Starlette routes on `path` minus `root_path`, and builds URLs (Location, the docs' schema URL)
    # with `root_path` in front, so links keep the prefix the client used.
    if prefix and prefix != "/":
        return {**scope, "root_path": prefix, "path": prefix + scope["path"]}
    return scope


class RestApi(APIGateway):
    """REST API (v1) proxy events, mounted under the stage (execute-api URL) or a custom base path."""

    @property
    def scope(self) -> Scope:
        scope = super().scope
        public_path = unquote(self.event["requestContext"].get("path") or "")
        route_path: str = scope["path"]
        if public_path.endswith(route_path) and public_path != route_path:
            return _mounted_at(scope, public_path[: -len(route_path)])
        return scope


def forwarded_for(event: LambdaEvent) -> str:
    """Every X-Forwarded-For value of an ALB event, in the order they came, as one comma-separated list: one
    header sent several times is one list (RFC 9110, section 5.3), whatever shape the event gives it."""
    if "multiValueHeaders" in event:
        lines = [
            line
            for name, values in event["multiValueHeaders"].items()
            if name.lower() == "x-forwarded-for"
            for line in values
        ]
    else:
        lines = [value for name, value in event["headers"].items() if name.lower() == "x-forwarded-for"]
    return ",".join(lines)


def address_the_load_balancer_saw(forwarded: str) -> str:
    """The last entry of X-Forwarded-For, without the port that `routing.http.xff_client_port.enabled` adds
    (`203.0.113.7:51234`, `[2001:db8::7]:51234`); empty without one."""
    entry = forwarded.rsplit(",", 1)[-1].strip()
    if entry.startswith("["):
        return entry[1:].split("]", 1)[0]
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry


class LoadBalancer(ALB):
    """ALB events, whose caller is the address the load balancer saw.

    An ALB in its default `append` mode adds the address it saw at the end of X-Forwarded-For, after
    whatever the caller sent in that header, so the caller writes every entry but the last; it adds
    `:port` where `routing.http.xff_client_port.enabled` is on. Mangum takes the header's last value, whole,
    for the client's address.
    """

    @property
    def scope(self) -> Scope:
        return {**super().scope, "client": (address_the_load_balancer_saw(forwarded_for(self.event)), 0)}


class HttpApi(HTTPGateway):
    """HTTP API (v2) and Function URL events; a named stage's prefix stays in links, not in routing."""

    @property
    def scope(self) -> Scope:
        scope = super().scope
        stage = self.event["requestContext"].get("stage")
        if self.event.get("version") == "2.0" and stage and stage != "$default":
            prefix = f"/{stage}"
            if scope["path"] == prefix or scope["path"].startswith(prefix + "/"):
                return {**scope, "root_path": prefix}
        return scope


class DirectInvocation:
    """Any other event (the console's test events, a schedule) asks what the lab's Lambda answered:
    the public list of active requests, as a proxy-style response with the public list's CORS grant
    (`Access-Control-Allow-Origin: *`, as the lab's Lambda answered)."""

    def __init__(self, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> None:
        self.event = event
        self.context = context
        self.config = config

    @classmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> bool:
        return not any(handler.infer(event, context, config) for handler in _BUILT_IN)

    @property
    def body(self) -> bytes:
        return b""

    @property
    def scope(self) -> Scope:
        return {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            # An opaque origin: the answer carries the grant that any page gets.
            "headers": [[b"accept", b"application/json"], [b"origin", b"null"]],
            "path": PUBLIC_LIST,
            "raw_path": None,
            "root_path": "",
            "scheme": "https",
            "query_string": b"",
            "server": ("lambda", 443),
            "client": None,
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "aws.event": self.event,
            "aws.context": self.context,
        }

    def __call__(self, response: Response) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        for name, value in response["headers"]:
            if name.lower().startswith(b"access-control-") or name.lower() == b"vary":
                headers[name.decode("latin-1")] = value.decode("latin-1")
        body = response["body"].decode("utf-8")
        if not 200 <= response["status"] < 300:
            log.error("direct invocation failed with %s: %s", response["status"], body)
            message = json.loads(body).get("message", "the active requests could not be read")
            return {"statusCode": 500, "headers": headers, "body": json.dumps({"message": message})}
        return {"statusCode": 200, "headers": headers, "body": body}
