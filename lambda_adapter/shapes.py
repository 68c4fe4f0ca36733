"""What a request event must hold where Mangum (0.22) reads it: each field's presence and JSON type. An event
that claims to be a request but lacks such a field, or has one of another type, is a MalformedEvent, which
the handler answers 400, instead of a KeyError or TypeError deep in Mangum answering 500."""

from __future__ import annotations

import json
from typing import Any, Literal

from service.core.errors import ErrorBody, FieldError, HttpError

# API Gateway, Function URLs and ALBs take `statusCode` and `headers`; an ALB target group with multi-value
# headers on takes `multiValueHeaders` instead, and Lambda@Edge `status` and CloudFront's headers.
AnswerShape = Literal["proxy", "multi-value", "edge"]
_MISSING = object()
_NULL = type(None)
_JSON_TYPES: dict[type, str] = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}


class MalformedEvent(Exception):
    """A request event without a field its handler reads, or with one of another type. Its message names
    the field and what is wrong with it, never the field's value."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem
        # The shape of the answer the event's source takes; its handler says where it is not the proxy one.
        self.answer_shape: AnswerShape = "proxy"

    def answer(self) -> dict[str, Any]:
        """The 400 answer with the service's error body, in the shape that the event's source takes."""
        body = ErrorBody(
            code=HttpError.code,
            message=f"the event is no request this function can read: {self}",
            fields=[FieldError(field=self.field, location="event", message=self.problem)],
        )
        answer: dict[str, Any] = {"body": json.dumps(body.model_dump(mode="json")), "isBase64Encoded": False}
        headers = {"Content-Type": "application/json", "X-Content-Type-Options": "nosniff"}
        if self.answer_shape == "edge":
            answer["status"] = 400
            answer["headers"] = {k.lower(): [{"key": k, "value": v}] for k, v in headers.items()}
        elif self.answer_shape == "multi-value":
            answer["statusCode"] = 400
            answer["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        else:
            answer["statusCode"] = 400
            answer["headers"] = headers
        return answer


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_TYPES.items() if isinstance(value, kind)), "a number")


def _wrong_type(field: str, kinds: tuple[type, ...], value: object) -> MalformedEvent:
    wanted = " or ".join("null" if kind is _NULL else _JSON_TYPES[kind] for kind in kinds)
    return MalformedEvent(field, f"must be {wanted}, not {_type_name(value)}")


def _text(value: str, field: str) -> str:
    # JSON can spell a lone surrogate (`"\ud800"`): no request holds one, and UTF-8 cannot encode it.
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise MalformedEvent(field, "holds a lone surrogate, which is no text") from None
    return value


def _field(
    container: dict[str, Any], key: str, field: str, kinds: tuple[type, ...], *, required: bool = True
) -> Any:
    value = container.get(key, _MISSING)
    if value is _MISSING:
        if required:
            raise MalformedEvent(field, "is missing")
        return None
    if not isinstance(value, kinds):
        raise _wrong_type(field, kinds, value)
    return _text(value, field) if isinstance(value, str) else value


def _object(
    container: dict[str, Any], key: str, field: str, *, required: bool = True, nullable: bool = False
) -> dict[str, Any]:
    kinds: tuple[type, ...] = (dict, _NULL) if nullable else (dict,)
    return _field(container, key, field, kinds, required=required) or {}


def _strings(
    container: dict[str, Any], key: str, *, required: bool = False, nullable: bool = True
) -> dict[str, str]:
    """An object of strings, such as `headers`."""
    values = _object(container, key, key, required=required, nullable=nullable)
    for name, value in values.items():
        # Every request has these: the plain case costs a test per header.
        if type(value) is not str or not (name.isascii() and value.isascii()):
            _field(values, _text(name, key), f"{key}.{name}", (str,))
    return values


def _list_of_strings(values: list[Any], field: str) -> list[str]:
    for index, item in enumerate(values):
        if not isinstance(item, str):
            raise _wrong_type(f"{field}[{index}]", (str,), item)
        _text(item, f"{field}[{index}]")
    return values


def _lists(
    container: dict[str, Any], key: str, *, required: bool = False, nullable: bool = True
) -> dict[str, list[str]]:
    """An object of lists of strings, such as `multiValueHeaders`."""
    values = _object(container, key, key, required=required, nullable=nullable)
    for name, items in values.items():
        if type(items) is list and name.isascii() and all(type(i) is str and i.isascii() for i in items):
            continue
        _field(values, _text(name, key), f"{key}.{name}", (list,))
        _list_of_strings(items, f"{key}.{name}")
    return values


def _body(event: dict[str, Any]) -> None:
    # Not read through _field: the handler finds what the body holds while it decodes it, once.
    body = event.get("body")
    if body is not None and not isinstance(body, str):
        raise _wrong_type("body", (str, _NULL), body)
    _field(event, "isBase64Encoded", "isBase64Encoded", (bool, _NULL), required=False)


def _server(headers: dict[str, str], field: str) -> None:
    """The host and port that Mangum reads from `Host`, else from `X-Forwarded-Port`, as it reads them."""
    host = headers.get("host", "")
    if ":" in host:
        name, _, port = host.rpartition(":")
        if ":" in name or not _is_port(port):
            raise MalformedEvent(f"{field}.host", "must be a host name, with a port number after one colon")
    elif not _is_port(headers.get("x-forwarded-port", "80")):
        raise MalformedEvent(f"{field}.x-forwarded-port", "must be a port number")


def _is_port(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def rest_api(event: dict[str, Any]) -> None:
    """A REST API (v1) event, or an HTTP API one of payload format 1.0."""
    _field(event, "httpMethod", "httpMethod", (str,))
    _field(event, "path", "path", (str, _NULL))
    context = _object(event, "requestContext", "requestContext")
    _field(context, "path", "requestContext.path", (str, _NULL), required=False)
    identity = _object(context, "identity", "requestContext.identity", required=False)
    _field(identity, "sourceIp", "requestContext.identity.sourceIp", (str, _NULL), required=False)
    headers = {name.lower(): value for name, value in _strings(event, "headers").items()}
    joined = {name.lower(): ", ".join(values) for name, values in _lists(event, "multiValueHeaders").items()}
    _strings(event, "queryStringParameters")
    _lists(event, "multiValueQueryStringParameters")
    _body(event)
    _server({**headers, **joined}, "headers")


def http_api(event: dict[str, Any]) -> None:
    """An HTTP API event of payload format 2.0, or a Function URL event."""
    context = _object(event, "requestContext", "requestContext")
    http = _object(context, "http", "requestContext.http")
    _field(http, "method", "requestContext.http.method", (str,))
    _field(http, "path", "requestContext.http.path", (str,))
    _field(http, "sourceIp", "requestContext.http.sourceIp", (str, _NULL))
    _field(context, "stage", "requestContext.stage", (str, _NULL), required=False)
    headers = _strings(event, "headers", nullable=False)
    _field(event, "rawQueryString", "rawQueryString", (str,), required=False)
    _list_of_strings(_field(event, "cookies", "cookies", (list, _NULL), required=False) or [], "cookies")
    _body(event)
    _server({name.lower(): value for name, value in headers.items()}, "headers")


def load_balancer(event: dict[str, Any]) -> None:
    """An ALB event: `headers`, or `multiValueHeaders` where the target group has multi-value headers on."""
    _field(event, "httpMethod", "httpMethod", (str,))
    _field(event, "path", "path", (str, _NULL))
    if "multiValueHeaders" in event:
        lists = _lists(event, "multiValueHeaders", required=True, nullable=False)
        # Mangum keeps the last value of a header sent more than once.
        headers = {name.lower(): values[-1] for name, values in lists.items() if values}
        field = "multiValueHeaders"
    else:
        strings = _strings(event, "headers", required=True, nullable=False)
        headers = {name.lower(): value for name, value in strings.items()}
        field = "headers"
    # Mangum reads the multi-value parameters whenever the key is there.
    key = "multiValueQueryStringParameters"
    if key not in event:
        key = "queryStringParameters"
    parameters = _object(event, key, key, required=False, nullable=True)
    for name in parameters:
        value = _field(parameters, _text(name, key), f"{key}.{name}", (str, list))
        if isinstance(value, list):
            _list_of_strings(value, f"{key}.{name}")
    _body(event)
    _server(headers, field)


def edge(event: dict[str, Any]) -> None:
    """A Lambda@Edge event: the CloudFront request of its first record."""
    field = "Records[0].cf.request"
    request = _object(_object(event["Records"][0], "cf", "Records[0].cf"), "request", field)
    for key in ("method", "uri", "querystring", "clientIp"):
        _field(request, key, f"{field}.{key}", (str,))
    headers = _object(request, "headers", f"{field}.headers")
    first: dict[str, str] = {}
    for name in headers:
        entries = _field(headers, _text(name, f"{field}.headers"), f"{field}.headers.{name}", (list,))
        if not entries or not isinstance(entries[0], dict):
            raise MalformedEvent(f"{field}.headers.{name}", "must be a list that starts with an object")
        first[name] = _field(entries[0], "value", f"{field}.headers.{name}[0].value", (str,))
    body = _object(request, "body", f"{field}.body", required=False)
    _field(body, "data", f"{field}.body.data", (str, _NULL), required=False)
    _server(first, f"{field}.headers")
