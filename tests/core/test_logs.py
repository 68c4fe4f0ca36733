"""Request logs: one JSON line per request with its id, and no phone number or token in any log."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from service.core.logs import LogFormat, configure_logging
from service.core.settings import Settings
from service.http.app import create_app
from tests.support.cognito import UserPool
from tests.support.helpers import api_client, create, new_request

PHONE = "208-555-0147"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.sig-9f8e7d"
TEST_SIDE_LOGGERS = ("httpx", "httpcore", "moto", "werkzeug")


@contextmanager
def captured_logs(log_format: LogFormat, level: str = "DEBUG") -> Iterator[io.StringIO]:
    """What the service logs in `log_format` while the block runs; the root logger is restored after."""
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(level, log_format, stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the service logs, at DEBUG and in JSON, while the test runs."""
    with captured_logs("json") as stream:
        yield stream


def request_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "service.requests"]


async def test_a_request_is_logged_once_with_method_path_status_duration_and_id(
    settings: Settings, table: str, log_output: io.StringIO, user_pool: UserPool
) -> None:
    async with api_client(settings, token=user_pool.token()) as api:
        response = await api.get("/requests/8B1111/404", headers={"X-Request-ID": "shop-web.42"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "shop-web.42"
    (line,) = request_lines(log_output)
    assert line["method"] == "GET"
    assert line["path"] == "/requests/8B1111/404"
    assert line["status"] == 404
    assert line["duration_ms"] >= 0
    assert line["request_id"] == "shop-web.42"
    assert line["level"] == "INFO"
    assert line["message"].startswith("GET /requests/8B1111/404 404 ")


@pytest.mark.parametrize(
    "given",
    [None, "", "x" * 129, "two words", "id\nforged line", "-leading-dash", "ünïcode"],
)
async def test_a_missing_or_odd_request_id_is_replaced_by_a_generated_one(
    settings: Settings, table: str, log_output: io.StringIO, given: str | None
) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    async with api_client(settings) as api:
        response = await api.get("/healthz", headers={k.encode(): v.encode() for k, v in headers.items()})
    generated = response.headers["X-Request-ID"]
    assert generated != given
    assert len(generated) == 26  # a ULID
    assert request_lines(log_output)[0]["request_id"] == generated


async def test_log_lines_written_during_a_request_carry_its_id(
    settings: Settings, table: str, log_output: io.StringIO
) -> None:
    async with api_client(settings) as api:
        await api.get("/readyz", headers={"X-Request-ID": "ready-1"})
    during = [json.loads(line) for line in log_output.getvalue().splitlines()]
    # The repository opens its client on first use and says so: inside the request, so with its id.
    names = {line["logger"] for line in during if line.get("request_id") == "ready-1"}
    assert "service.requests" in names


async def test_no_phone_number_token_or_query_string_reaches_the_logs(
    settings: Settings, table: str, log_output: io.StringIO, user_pool: UserPool
) -> None:
    token = user_pool.token()
    secret_headers = {"Authorization": f"Bearer {token}", "Cookie": f"session={TOKEN}"}
    async with api_client(settings, token=token) as api:
        forged = await api.get("/requests/active", headers={"Authorization": f"Bearer {TOKEN}"})
        assert forged.status_code == 401
        created = await api.post("/requests", json=new_request(phone_number=PHONE), headers=secret_headers)
        assert created.status_code == 201, created.text
        key = f"/requests/{created.json()['license_plate']}/{created.json()['service_id']}"
        changed = await api.patch(key, json={"phone_number": "+1 (208) 555-0199"}, headers=secret_headers)
        assert changed.status_code == 200
        refused = await api.post("/requests", json=new_request(phone_number=f"{PHONE}\x07"))
        assert refused.status_code == 422
        listed = await api.get(
            "/requests", params={"status": "New Request", "access_token": TOKEN}, headers=secret_headers
        )
        assert listed.status_code == 200
        await create(api, phone_number=PHONE)
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    # The test's own HTTP client (httpx) and DynamoDB stand-in (moto, werkzeug) log too; they are not
    # part of the service, which ships neither.
    service_lines = [line for line in lines if not line["logger"].startswith(TEST_SIDE_LOGGERS)]
    assert len([line for line in service_lines if line["logger"] == "service.requests"]) == 6
    text = "\n".join(json.dumps(line) for line in service_lines)
    for secret in (TOKEN, token, token.split(".")[1], "555-0147", "2085550147", "555-0199", "access_token"):
        assert secret not in text, f"{secret!r} was logged"


def test_text_format_is_for_people_and_still_carries_the_request_id() -> None:
    with captured_logs("text", "INFO") as stream:
        logging.getLogger("service.requests").info("GET /healthz 200 0.1ms", extra={"request_id": "r-1"})
        logging.getLogger("service").info("no request here")
    first, second = stream.getvalue().splitlines()
    assert first.endswith("INFO service.requests [r-1]: GET /healthz 200 0.1ms")
    assert second.endswith("INFO service [-]: no request here")


# A record of the text format starts with its date; anything else at the margin would be forged.
_TEXT_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+ \[[^\]]+\]: ")
FORGED = "2026-11-26 10:00:00,000 WARNING service.identity.modes [-]: technician tech logged in"


async def test_text_logs_escape_control_characters_so_a_path_forges_no_line(
    settings: Settings, table: str, user_pool: UserPool
) -> None:
    breaks = ["\n", "\r", "\r\n", "\x1b[2K\r", "\u2028", "\x85"]
    with captured_logs("text", "INFO") as stream:
        async with api_client(settings, token=user_pool.token()) as api:
            for line_break in breaks:
                response = await api.get("/requests/8B1111/1" + quote(line_break + FORGED, safe=""))
                assert response.status_code == 404
    lines = stream.getvalue().splitlines()
    request_lines = [line for line in lines if "service.requests" in line]
    assert len(request_lines) == len(breaks), lines
    for line in lines:
        assert _TEXT_RECORD.match(line), f"a line not written by the service: {line!r}"
    assert all("technician tech logged in 404 " in line for line in request_lines)
    assert "\\x0a2026-11-26" in request_lines[0]


def test_text_logs_indent_tracebacks_and_escape_their_control_characters() -> None:
    with captured_logs("text", "INFO") as stream:
        try:
            raise ValueError(f"a value with a line break\n{FORGED}\rand a carriage return")
        except ValueError:
            logging.getLogger("service.http.app").exception("unhandled error on GET /explode")
    first, *traceback = stream.getvalue().splitlines()
    assert _TEXT_RECORD.match(first)
    assert traceback
    # The forged text is there, as the exception said it, but never at the margin.
    assert all(line.startswith("    ") for line in traceback), traceback
    assert f"    {FORGED}\\x0dand a carriage return" in traceback


def test_dynamodb_libraries_stay_quiet_at_debug(log_output: io.StringIO) -> None:
    """botocore's DEBUG lines hold whole DynamoDB requests, phone numbers included."""
    logging.getLogger("botocore.endpoint").debug("Making request with params: %s", PHONE)
    logging.getLogger("service.storage.repository").debug("our own debug line")
    assert PHONE not in log_output.getvalue()
    assert "our own debug line" in log_output.getvalue()


async def test_an_unexpected_error_answers_500_with_the_request_id_and_logs_it(
    settings: Settings, log_output: io.StringIO
) -> None:
    app = create_app(settings)

    @app.get("/explode")
    async def explode() -> None:
        raise RuntimeError("a bug, not a caller's mistake")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        response = await api.get("/explode", headers={"X-Request-ID": "bug-7"})
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "a bug" not in response.text
    assert response.headers["X-Request-ID"] == "bug-7"
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    by_logger = {line["logger"]: line for line in lines if line.get("request_id") == "bug-7"}
    assert by_logger["service.requests"]["status"] == 500
    assert "RuntimeError" in by_logger["service.http.app"]["exc_info"]


def test_records_skip_looking_up_the_caller_thread_and_process_that_no_line_shows() -> None:
    """The Logging HOWTO's switches ("Optimization"): a record logged after set-up names none of them."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    with captured_logs("json"):
        logging.getLogger().addHandler(Keep())
        logging.getLogger("service.requests").info("GET / 200")
    (record,) = records
    assert (record.pathname, record.lineno, record.funcName) == ("(unknown file)", 0, "(unknown function)")
    assert (record.thread, record.threadName, record.process, record.processName) == (None, None, None, None)
