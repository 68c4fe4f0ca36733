"""The in-memory DynamoDB of local development: moto's server in a thread of this process."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class EmbeddedDynamoDB(Protocol):
    """What the service needs of moto's ThreadedMotoServer."""

    def get_host_and_port(self) -> tuple[str, int]: ...
    def stop(self) -> None: ...


def start_embedded_dynamodb() -> tuple[EmbeddedDynamoDB, str]:
    """Start moto's DynamoDB on a free port of 127.0.0.1; returns the server and its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # deployments do not ship moto, on purpose
        raise RuntimeError(
            "DYNAMODB_MODE=embedded needs moto, which only the development install has "
            "(`make run` sets it up); deployments use DynamoDB itself"
        ) from exc
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per DynamoDB call is noise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    log.warning(
        "embedded DynamoDB (moto) at %s: the data lives in memory and is lost when this process stops",
        url,
    )
    return server, url
