"""Every error the service answers, defined once: its HTTP status, its stable code, what the API document
says of it, and the one JSON shape every error answer has.

ServiceError             status  code
├── InvalidCursor        400     invalid_cursor
├── Unauthorized         401     unauthorized
├── NotATechnician       403     not_a_technician
├── OriginNotAllowed     403     origin_not_allowed
├── NotFound             404     not_found
├── MethodNotAllowed     405     method_not_allowed
├── RequestTimeout       408     request_timeout
├── AlreadyExists        409     already_exists
├── RequestInProgress    409     request_in_progress
├── PreconditionFailed   412     precondition_failed
├── BodyTooLarge         413     body_too_large
├── MisdirectedRequest   421     misdirected_request
├── ValidationFailed     422     validation_failed
├── IdempotencyKeyReused 422     idempotency_key_reused
├── TooManyRequests      429     too_many_requests
├── HeadersTooLarge      431     headers_too_large
├── HttpError            4xx     http_error (any other refusal by the HTTP layer)
├── InternalError        500     internal_error
├── BackendUnavailable   503     backend_unavailable
└── ShuttingDown         503     shutting_down
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict


class FieldError(BaseModel):
    """What is wrong with one field of a request."""

    field: str = Field(description="The field's name, dotted for nested fields.")
    location: str = Field(description="Where the field was sent: body, query, path or header.")
    message: str


class ServiceError(Exception):
    """Base class: an error with an HTTP status, a machine-readable code and a message safe to show."""

    status_code: int = 500
    code: str = "internal_error"
    description: str = "An unexpected error; it has been logged with the request's id"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self._headers = dict(headers or {})

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers for this error."""
        return self._headers

    def body(self) -> ErrorBody:
        return ErrorBody(code=self.code, message=self.message)


class InvalidCursor(ServiceError):
    """The cursor is malformed, tampered with or belongs to another list."""

    status_code = 400
    code = "invalid_cursor"
    description = "Malformed cursor"


class Unauthorized(ServiceError):
    """The route needs a technician and the request did not prove to be one."""

    status_code = 401
    code = "unauthorized"
    description = "No valid technician token; see `WWW-Authenticate`"

    def __init__(self, message: str, *, invalid: bool = False) -> None:
        # RFC 6750: name the error only when credentials were sent and found wanting.
        challenge = 'Bearer realm="service-requests"' + (', error="invalid_token"' if invalid else "")
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class NotATechnician(ServiceError):
    """The credentials are valid, but their user is not in the technicians' group (TECHNICIAN_GROUP)."""

    status_code = 403
    code = "not_a_technician"
    description = "The user is not a technician"


class OriginNotAllowed(ServiceError):
    """A web page whose origin the route does not grant sent the request; it reached no route."""

    status_code = 403
    code = "origin_not_allowed"
    description = "The calling page's origin may not use this route"


class NotFound(ServiceError):
    """No service request has that key, or no route that path."""

    status_code = 404
    code = "not_found"
    description = "No such service request"


class MethodNotAllowed(ServiceError):
    """The path is served, but not with this method; `Allow` names the methods it is served with."""

    status_code = 405
    code = "method_not_allowed"
    description = "The path is not served with this method; `Allow` lists those it is"


class RequestTimeout(ServiceError):
    """The request's headers or body did not arrive within HEADERS_TIMEOUT_SECONDS or BODY_TIMEOUT_SECONDS;
    the connection is closed."""

    status_code = 408
    code = "request_timeout"
    description = "The request arrived too slowly"

    def __init__(self, part: str, seconds: float) -> None:
        super().__init__(
            f"the request's {part} did not arrive within {seconds:g} s", headers={"Connection": "close"}
        )


class AlreadyExists(ServiceError):
    """A service request with that license plate and service id exists already."""

    status_code = 409
    code = "already_exists"
    description = "A service request with that key exists already"


class RequestInProgress(ServiceError):
    """Another call holding the same Idempotency-Key (or sending the same form) is still storing its
    request; retrying after `Retry-After` seconds answers what that call stored."""

    status_code = 409
    code = "request_in_progress"
    description = "A call with the same Idempotency-Key or form is in progress; retry after `Retry-After`"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class PreconditionFailed(ServiceError):
    """The request has changed since the version If-Match names; nothing was written."""

    status_code = 412
    code = "precondition_failed"
    description = "The request changed since the ETag in If-Match; nothing was written"


class BodyTooLarge(ServiceError):
    """The request body is larger than MAX_BODY_BYTES; it was not read past the limit."""

    status_code = 413
    code = "body_too_large"
    description = "The request body is larger than the service accepts"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes", headers={"Connection": "close"})


class MisdirectedRequest(ServiceError):
    """The request names a host this service does not answer for (AUTH_MODE=none answers only local ones)."""

    status_code = 421
    code = "misdirected_request"
    description = "The service does not answer for the host the request names"


class ValidationFailed(ServiceError):
    """The request's fields are invalid; `fields` names each one and what is wrong with it."""

    status_code = 422
    code = "validation_failed"
    description = "Invalid input; `fields` names each offending field"

    def __init__(self, fields: list[FieldError]) -> None:
        super().__init__("; ".join(f"{f.field}: {f.message}" for f in fields))
        self.fields = fields

    def body(self) -> ErrorBody:
        return ErrorBody(code=self.code, message=self.message, fields=self.fields)


class IdempotencyKeyReused(ServiceError):
    """The Idempotency-Key was used before for a request with a different body."""

    status_code = 422
    code = "idempotency_key_reused"
    description = "The Idempotency-Key was used before for another request"


class TooManyRequests(ServiceError):
    """This caller sent more anonymous requests of one kind than the limit allows in the current window."""

    status_code = 429
    code = "too_many_requests"
    description = "Too many requests from this address; retry after `Retry-After` seconds"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class HeadersTooLarge(ServiceError):
    """The request's header section is larger than MAX_HEADER_BYTES; the connection is closed."""

    status_code = 431
    code = "headers_too_large"
    description = "The request's headers are larger than the service accepts"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the request's header section is larger than {limit} bytes", headers={"Connection": "close"}
        )


class HttpError(ServiceError):
    """Any other refusal by the HTTP layer, with its own status."""

    code = "http_error"
    description = "The HTTP request cannot be served"

    def __init__(self, status_code: int, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message, headers=headers)
        self.status_code = status_code


class InternalError(ServiceError):
    """An unexpected error; the answer says no more than that, the log says everything."""

    def __init__(self) -> None:
        super().__init__("internal error; it has been logged")


class BackendUnavailable(ServiceError):
    """DynamoDB did not answer usefully; the request may be retried later."""

    status_code = 503
    code = "backend_unavailable"
    description = "DynamoDB is unavailable; retry after `Retry-After` seconds"
    retry_after_seconds = 1

    def __init__(self, message: str, *, missing_table: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(self.retry_after_seconds)})
        # The table that does not exist, when that is why.
        self.missing_table = missing_table


# The catalogue, in order of status: every code the service answers.
class ShuttingDown(ServiceError):
    """This instance is stopping: its probes say so while it drains, so the load balancer sends no more."""

    status_code = 503
    code = "shutting_down"
    description = "This instance is stopping; another one answers"


ERRORS: tuple[type[ServiceError], ...] = (
    InvalidCursor,
    Unauthorized,
    NotATechnician,
    OriginNotAllowed,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    AlreadyExists,
    RequestInProgress,
    PreconditionFailed,
    BodyTooLarge,
    MisdirectedRequest,
    ValidationFailed,
    IdempotencyKeyReused,
    TooManyRequests,
    HeadersTooLarge,
    HttpError,
    InternalError,
    BackendUnavailable,
    ShuttingDown,
)


_EXAMPLE: JsonDict = {
    "code": "validation_failed",
    "message": "phone_number: Value error, a phone number needs at least one digit",
    "fields": [{"field": "phone_number", "location": "body", "message": "..."}],
}


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    code: str = Field(
        description="Stable machine-readable code: " + ", ".join(error.code for error in ERRORS) + "."
    )
    message: str
    fields: list[FieldError] = Field(default_factory=list)
