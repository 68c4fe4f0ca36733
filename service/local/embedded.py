"""The in-memory AWS of local development: moto's server in a thread of this process, serving DynamoDB, its
stream, SNS and SQS on one port."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Protocol

from service.core.settings import ConfigurationError

log = logging.getLogger(__name__)

# How long moto's server may take to start listening; it takes well under a second.
_START_SECONDS = 15.0


class EmbeddedDynamoDB(Protocol):
    """What the service needs of moto's ThreadedMotoServer."""

    def get_host_and_port(self) -> tuple[str, int]: ...
    def stop(self) -> None: ...


def ensure_port_free(host: str, port: int, setting: str) -> None:
    """Raise ConfigurationError naming `setting` when `port` of `host` cannot be listened on (0: any port
    will do). Checked before anything starts, so a second `make run` says why at once."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the servers bind: a port left in TIME_WAIT by an earlier run is free to them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {host}:{port} ({exc.strerror}): stop what uses port {port}, or set "
                f"{setting} to another port (e.g. `{setting}={port + 1} make run`)"
            ) from None


def start_embedded_dynamodb(port: int = 0) -> tuple[EmbeddedDynamoDB, str]:
    """Start moto's server on `port` of 127.0.0.1 (0: a free one); returns the server and its URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # deployments do not ship moto, on purpose
        raise RuntimeError(
            "DYNAMODB_MODE=embedded needs moto, which only the development install has "
            "(`make run` sets it up); deployments use DynamoDB itself"
        ) from exc
    ensure_port_free("127.0.0.1", port, "EMBEDDED_PORT")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per DynamoDB call is noise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    # start() waits for the server's thread to listen, forever when that thread died binding the port (taken
    # between the check above and now): wait for it in a thread of its own, for a bounded time.
    starting = threading.Thread(target=server.start, name="embedded-start", daemon=True)
    starting.start()
    starting.join(_START_SECONDS)
    if starting.is_alive():
        raise ConfigurationError(
            f"the embedded DynamoDB did not start on 127.0.0.1:{port} within {_START_SECONDS:.0f} s; "
            "set EMBEDDED_PORT to another port"
        )
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    log.warning(
        "embedded DynamoDB, SNS and SQS (moto) at %s: the data lives in memory and is lost when this "
        "process stops",
        url,
    )
    return server, url
