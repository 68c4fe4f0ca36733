"""The errors the service answers with; each carries its HTTP status and a stable code.

ServiceError
├── InvalidCursor        400  a list cursor that this service did not issue for this list
├── Unauthorized         401  no valid technician credentials
├── NotFound             404  no service request under that key
├── AlreadyExists        409  a create whose key is taken
├── PreconditionFailed   412  If-Match names a version the request no longer has
├── IdempotencyKeyReused 422  an Idempotency-Key seen before, with another body
└── BackendUnavailable   503  DynamoDB cannot be reached, times out, throttles or lacks the table
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: an error with an HTTP status, a machine-readable code and a safe message."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers for this error."""
        return {}


class InvalidCursor(ServiceError):
    """The cursor is malformed, tampered with or belongs to another list."""

    status_code = 400
    code = "invalid_cursor"


class Unauthorized(ServiceError):
    """The route needs a technician and the request did not prove to be one."""

    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str, *, invalid: bool = False) -> None:
        super().__init__(message)
        # RFC 6750: name the error only when credentials were sent and found wanting.
        self.invalid = invalid

    @property
    def headers(self) -> dict[str, str]:
        challenge = 'Bearer realm="service-requests"'
        if self.invalid:
            challenge += ', error="invalid_token"'
        return {"WWW-Authenticate": challenge}


class NotFound(ServiceError):
    """No service request has that license plate and service id."""

    status_code = 404
    code = "not_found"


class AlreadyExists(ServiceError):
    """A service request with that license plate and service id exists already."""

    status_code = 409
    code = "already_exists"


class PreconditionFailed(ServiceError):
    """The request has changed since the version If-Match names; nothing was written."""

    status_code = 412
    code = "precondition_failed"


class IdempotencyKeyReused(ServiceError):
    """The Idempotency-Key was used before for a request with a different body."""

    status_code = 422
    code = "idempotency_key_reused"


class BackendUnavailable(ServiceError):
    """DynamoDB did not answer usefully; the request may be retried later."""

    status_code = 503
    code = "backend_unavailable"
    retry_after_seconds = 1

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}
