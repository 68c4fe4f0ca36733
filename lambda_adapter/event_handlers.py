"""Mangum event handlers for what API Gateway, ALBs and the Lambda console send beyond Mangum's own handling.

Mangum picks the first handler whose `infer` takes an event. The handlers of request events take only a JSON
object, and check when picked that it holds what they read (`lambda_adapter.shapes`): a malformed request
raises MalformedEvent, which is answered 400. Every other event is a DirectInvocation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from mangum.handlers import ALB, APIGateway, HTTPGateway, LambdaAtEdge
from mangum.types import LambdaConfig, LambdaContext, LambdaEvent, Response, Scope

import lambda_adapter.shapes as shapes
from lambda_adapter.shapes import AnswerShape, MalformedEvent

log = logging.getLogger(__name__)

PUBLIC_LIST = "/service-request"


def _mounted_at(scope: Scope, prefix: str) -> Scope:
    # Starlette routes on `path` minus `root_path`, and builds URLs (Location, the docs' schema URL)
    # with `root_path` in front, so links keep the prefix the client used.
    if prefix and prefix != "/":
        return {**scope, "root_path": prefix, "path": prefix + scope["path"]}
    return scope


@contextmanager
def _decoding_body() -> Iterator[None]:
    """Base64 that is none, or text that UTF-8 cannot encode (a lone surrogate), is the event's fault."""
    try:
        yield
    except ValueError:  # binascii.Error and UnicodeEncodeError among them
        raise MalformedEvent("body", "is not what isBase64Encoded says: base64, or else text") from None


@contextmanager
def _answered_as(shape: AnswerShape) -> Iterator[None]:
    try:
        yield
    except MalformedEvent as malformed:
        malformed.answer_shape = shape
        raise


class RestApi(APIGateway):
    """REST API (v1) proxy events, mounted under the stage (execute-api URL) or a custom base path."""

    def __init__(self, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> None:
        shapes.rest_api(event)
        super().__init__(event, context, config)

    @classmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> bool:
        return isinstance(event, dict) and "resource" in event and "requestContext" in event

    @property
    def body(self) -> bytes:
        with _decoding_body():
            return super().body

    @property
    def scope(self) -> Scope:
        scope = super().scope
        public_path = unquote(self.event["requestContext"].get("path") or "")
        route_path: str = scope["path"]
        if public_path.endswith(route_path) and public_path != route_path:
            return _mounted_at(scope, public_path[: -len(route_path)])
        return scope


def forwarded_for(event: LambdaEvent) -> list[str]:
    """Every X-Forwarded-For value of an ALB event, in the order they came."""
    if "multiValueHeaders" in event:
        lines = [
            line
            for name, values in event["multiValueHeaders"].items()
            if name.lower() == "x-forwarded-for"
            for line in values
        ]
    else:
        lines = [value for name, value in event["headers"].items() if name.lower() == "x-forwarded-for"]
    return lines


def address_the_load_balancer_saw(lines: list[str]) -> str:
    """The last entry of X-Forwarded-For, without the port that `routing.http.xff_client_port.enabled` adds
    (`203.0.113.7:51234`, `[2001:db8::7]:51234`); empty without one, and empty when the header came as more
    than one value: AWS documents the ALB appending to the header, not where its entry goes among several
    values of it, so the caller may have written the last one. No browser sends the header at all; every
    caller that sends it twice counts as one, the caller whose address cannot be read."""
    if len(lines) != 1:
        return ""
    entry = lines[0].rsplit(",", 1)[-1].strip()
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

    def __init__(self, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> None:
        with _answered_as(self._answer_shape(event)):
            shapes.load_balancer(event)
        super().__init__(event, context, config)

    @staticmethod
    def _answer_shape(event: LambdaEvent) -> AnswerShape:
        return "multi-value" if "multiValueHeaders" in event else "proxy"

    @classmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> bool:
        return (
            isinstance(event, dict)
            and isinstance(event.get("requestContext"), dict)
            and "elb" in event["requestContext"]
        )

    @property
    def body(self) -> bytes:
        with _answered_as(self._answer_shape(self.event)), _decoding_body():
            return super().body

    @property
    def scope(self) -> Scope:
        return {**super().scope, "client": (address_the_load_balancer_saw(forwarded_for(self.event)), 0)}


class HttpApi(HTTPGateway):
    """HTTP API (v2) and Function URL events; a named stage's prefix stays in links, not in routing."""

    def __init__(self, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> None:
        if event["version"] == "2.0":
            shapes.http_api(event)
        else:
            shapes.rest_api(event)
        super().__init__(event, context, config)

    @classmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> bool:
        return isinstance(event, dict) and "version" in event and "requestContext" in event

    @property
    def body(self) -> bytes:
        with _decoding_body():
            return super().body

    @property
    def scope(self) -> Scope:
        scope = super().scope
        stage = self.event["requestContext"].get("stage")
        if self.event.get("version") == "2.0" and stage and stage != "$default":
            prefix = f"/{stage}"
            if scope["path"] == prefix or scope["path"].startswith(prefix + "/"):
                return {**scope, "root_path": prefix}
        return scope


class EdgeRequest(LambdaAtEdge):
    """Lambda@Edge events, as Mangum reads them."""

    def __init__(self, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> None:
        with _answered_as("edge"):
            shapes.edge(event)
        super().__init__(event, context, config)

    @classmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> bool:
        records = event.get("Records") if isinstance(event, dict) else None
        return (
            isinstance(records, list)
            and bool(records)
            and isinstance(records[0], dict)
            and "cf" in records[0]
        )

    @property
    def body(self) -> bytes:
        with _answered_as("edge"), _decoding_body():
            return super().body


REQUESTS = (RestApi, HttpApi, LoadBalancer, EdgeRequest)


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
        return not any(handler.infer(event, context, config) for handler in REQUESTS)

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
