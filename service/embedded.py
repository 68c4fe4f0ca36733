"""The in-memory AWS of local development: moto's server in a thread of this process, serving DynamoDB, its
stream, SNS and SQS on one port."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class EmbeddedDynamoDB(Protocol):
    """What the service needs of moto's ThreadedMotoServer."""

    def get_host_and_port(self) -> tuple[str, int]: ...
    def stop(self) -> None: ...


def start_embedded_dynamodb(port: int = 0) -> tuple[EmbeddedDynamoDB, str]:
    """Start moto's server on `port` of 127.0.0.1 (0: a free one); returns the server and its URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # deployments do not ship moto, on purpose
        raise RuntimeError(
            "DYNAMODB_MODE=embedded needs moto, which only the development install has "
            "(`make run` sets it up); deployments use DynamoDB itself"
        ) from exc
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per DynamoDB call is noise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    log.warning(
        "embedded DynamoDB, SNS and SQS (moto) at %s: the data lives in memory and is lost when this "
        "process stops",
        url,
    )
    return server, url
