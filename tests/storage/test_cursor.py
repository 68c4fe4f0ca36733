"""The cursor codec: round trips, and refuses anything it did not issue for the same list."""

from __future__ import annotations

import base64
import json

import pytest

from service.core.errors import InvalidCursor
from service.storage.cursors import CursorCodec

KEYS = frozenset({"license_plate", "service_id"})
POSITION = {"license_plate": "8B1111", "service_id": "01JD8Y6V2ZK4M7Q9R3T5W8X0AB"}


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(b"a secret")


def test_round_trip(codec: CursorCodec) -> None:
    cursor = codec.encode("vehicle:8B1111", POSITION)
    assert codec.decode("vehicle:8B1111", cursor, KEYS) == POSITION


def test_cursor_is_url_safe_and_does_not_name_the_attributes_in_clear(codec: CursorCodec) -> None:
    cursor = codec.encode("vehicle:8B1111", POSITION)
    assert all(c.isalnum() or c in "-_." for c in cursor)
    assert "license_plate" not in cursor


def test_another_scope_is_refused(codec: CursorCodec) -> None:
    cursor = codec.encode("vehicle:8B1111", POSITION)
    with pytest.raises(InvalidCursor, match="not issued for this list"):
        codec.decode("vehicle:1J1957", cursor, KEYS)


def test_another_secret_is_refused(codec: CursorCodec) -> None:
    cursor = CursorCodec(b"another secret").encode("vehicle:8B1111", POSITION)
    with pytest.raises(InvalidCursor):
        codec.decode("vehicle:8B1111", cursor, KEYS)


def test_an_edited_payload_is_refused(codec: CursorCodec) -> None:
    _payload, tag = codec.encode("active", POSITION).split(".")
    edited = json.dumps({**POSITION, "license_plate": "ZZZ"}).encode()
    forged = base64.urlsafe_b64encode(edited).decode().rstrip("=") + "." + tag
    with pytest.raises(InvalidCursor):
        codec.decode("active", forged, KEYS)


def test_a_signed_position_with_other_keys_is_refused(codec: CursorCodec) -> None:
    cursor = codec.encode("active", {"license_plate": "8B1111"})
    with pytest.raises(InvalidCursor, match="does not describe a position"):
        codec.decode("active", cursor, KEYS)


@pytest.mark.parametrize("cursor", ["", ".", "abc", "a.b.c", "!!!.###", "x" * 5000])
def test_malformed_text_is_refused(codec: CursorCodec, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode("active", cursor, KEYS)
