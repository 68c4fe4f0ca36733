"""The headers the edge gives every answer: its id, nosniff, no-store for technicians, Vary: Origin."""

from __future__ import annotations

from typing import Any

import pytest

from service.http.edge import _edit_headers

RID = "01JD8Y6V2ZK4M7Q9R3T5W8X0AB"


def _edited(status: int, headers: list[tuple[bytes, bytes]], **flags: bool) -> list[tuple[bytes, bytes]]:
    message: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    _edit_headers(message, RID, technicians=flags.get("technicians", True), vary=flags.get("vary", True))
    return list(message["headers"])


def test_an_answer_without_them_gets_each_once_after_its_own() -> None:
    own = [(b"content-type", b"application/json"), (b"etag", b'"3"')]
    assert _edited(200, list(own)) == [
        *own,
        (b"x-request-id", RID.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"cache-control", b"no-store"),
        (b"vary", b"Origin"),
    ]
    assert _edited(200, list(own), technicians=False, vary=False) == [
        *own,
        (b"x-request-id", RID.encode()),
        (b"x-content-type-options", b"nosniff"),
    ]


@pytest.mark.parametrize("status", [200, 307])
def test_an_answer_that_has_them_has_each_once_with_the_edges_value(status: int) -> None:
    headers = [
        (b"cache-control", b"max-age=60"),
        (b"vary", b"Accept-Encoding"),
        (b"x-request-id", b"forged"),
        (b"location", b"http://evil.example/requests"),
        (b"x-request-id", b"again"),
    ]
    location = b"/requests" if status == 307 else b"http://evil.example/requests"
    assert _edited(status, headers) == [
        (b"cache-control", b"no-store"),
        (b"vary", b"Accept-Encoding, Origin"),
        (b"x-request-id", RID.encode()),
        (b"location", location),
        (b"x-content-type-options", b"nosniff"),
    ]
