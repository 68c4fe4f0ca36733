"""Logging set up in one place: JSON lines (or plain text for people), each carrying its request's id."""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import Any, Literal, TextIO

LogFormat = Literal["json", "text"]

# The id of the request being served, set by the Edge middleware for exactly the time it runs.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# On Lambda, the invocation's own id (its `aws_request_id`), set by the Lambda adapter for each invocation.
invocation_id: ContextVar[str | None] = ContextVar("invocation_id", default=None)

# Their DEBUG output holds whole DynamoDB requests (phone numbers) and signed headers: never below INFO.
_CHATTY_LIBRARIES = ("botocore", "aiobotocore", "aioboto3", "urllib3", "aiohttp")
# Mangum logs each request a second time at INFO, without its id: only its warnings and errors are news.
_REPEATING_LIBRARIES = ("mangum",)
# Record attributes that are not worth a JSON field, beside the record's own: uvicorn's ANSI-coloured copy
# of the message, and the asyncio task name that Python 3.12 adds to every record (None here).
_NOT_FIELDS = ["color_message", "taskName"]


# What could end a line or drive a terminal: C0 and C1 controls, DEL, and Unicode's line and paragraph
# separators. A path may hold any of them (`%0A`), and a text log line must stay one line.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class _TextFormatter(logging.Formatter):
    """Plain lines for people. Each record is one line with its control characters escaped; a traceback
    follows it indented, so a line that starts at the margin is always a record of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _CONTROLS.sub(_escaped, super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return self._indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return self._indented(super().formatStack(stack_info))

    @staticmethod
    def _indented(text: str) -> str:
        return "\n".join("    " + _CONTROLS.sub(_escaped, line) for line in text.split("\n"))


class _RequestIdFilter(logging.Filter):
    """Stamps every record logged while a request is served with that request's id, and on Lambda every
    record of an invocation with the invocation's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = request_id.get()
        if current is not None and not hasattr(record, "request_id"):
            record.request_id = current
        invocation = invocation_id.get()
        if invocation is not None and not hasattr(record, "aws_request_id"):
            record.aws_request_id = invocation
        return True


def build_handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A handler writing one line per record to `stream` (stderr by default) in `log_format`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter: logging.Formatter
    if log_format == "json":
        # Imported here: `LOG_FORMAT=text` never needs them. orjson encodes a line in a third of the time
        # the standard library's json takes, with the same output.
        from pythonjsonlogger.core import RESERVED_ATTRS
        from pythonjsonlogger.orjson import OrjsonFormatter

        formatter = OrjsonFormatter(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, *_NOT_FIELDS],
            timestamp=True,
        )
    else:
        formatter = _TextFormatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s",
            defaults={"request_id": "-"},
        )
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    return handler


def configure_logging(level: str, log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Route every logger, uvicorn's included, through one handler on the root logger.

    No line shows where it was logged from, or which thread or process logged it, so the records skip
    looking those up (the Logging HOWTO's "Optimization"): a request's line costs a third less.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if sys.version_info >= (3, 12):
        logging.logAsyncioTasks = False
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(build_handler(log_format, stream))
    root.setLevel(level)
    floor = max(logging.getLevelNamesMapping()[level], logging.INFO)
    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(floor)
    for name in _REPEATING_LIBRARIES:
        logging.getLogger(name).setLevel(max(floor, logging.WARNING))
