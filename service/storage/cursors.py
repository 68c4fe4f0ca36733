"""Opaque list cursors: a DynamoDB start key, bound to one list and signed so it cannot be forged."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from service.core.errors import InvalidCursor

_TAG_BYTES = 16
_MAX_CURSOR_LENGTH = 2048


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Encodes a position (attribute name -> string value) for a named list, and checks it on the way back."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _tag(self, scope: str, payload: bytes) -> bytes:
        mac = hmac.new(self._secret, scope.encode("utf-8") + b"\0" + payload, hashlib.sha256)
        return mac.digest()[:_TAG_BYTES]

    def encode(self, scope: str, position: dict[str, str]) -> str:
        payload = json.dumps(position, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(self._tag(scope, payload))}"

    def decode(self, scope: str, cursor: str, keys: frozenset[str]) -> dict[str, str]:
        """The position in `cursor`, which must have been issued for `scope` and hold exactly `keys`."""
        try:
            if len(cursor) > _MAX_CURSOR_LENGTH:
                raise ValueError("too long")
            payload_text, tag_text = cursor.split(".")
            payload, tag = _b64decode(payload_text), _b64decode(tag_text)
        except (ValueError, binascii.Error) as exc:
            raise InvalidCursor("the cursor is malformed; pass next_cursor back unchanged") from exc
        if not hmac.compare_digest(tag, self._tag(scope, payload)):
            raise InvalidCursor("the cursor was not issued for this list or has been altered")
        position = json.loads(payload)
        if (
            not isinstance(position, dict)
            or position.keys() != keys
            or not all(isinstance(v, str) for v in position.values())
        ):
            raise InvalidCursor("the cursor does not describe a position in this list")
        return position
