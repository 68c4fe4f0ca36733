"""Command line: serve the API, create the table, load the lab's rows, audit the table's items, probe a
running server, relay the status changes to SNS, and (locally) set up and watch the lab's topic and queues."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
import urllib.request
from contextlib import AsyncExitStack
from types import FrameType

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from service.core.garbage_collection import collect_less_often
from service.core.hosts import is_local
from service.core.logs import configure_logging
from service.core.settings import ConfigurationError, Settings
from service.events.failure_queue import FAILURE_QUEUE, ensure_failure_queue, open_failure_queue
from service.events.messages import StatusPublisher
from service.events.relay import RelayError, StreamRelay
from service.http.app import create_app
from service.http.uvicorn_connections import bounded_http
from service.local.embedded import ensure_port_free, start_embedded_dynamodb
from service.local.lab_queues import ALL_QUEUE, QUEUES, ensure_lab_topic, watch
from service.local.lab_rows import seed
from service.storage.audit import audit
from service.storage.aws import open_sns, open_sqs, open_streams
from service.storage.backend import Backend, open_client
from service.storage.guard import deadline_guard
from service.storage.tables import SchemaMismatch, ensure_tables

log = logging.getLogger("service")


async def _init_table(settings: Settings, *, seed_if_created: bool = False) -> None:
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        created = await ensure_tables(client, settings)
        log.info(
            "table %s %s", settings.table_name, "created" if created else "exists with the expected layout"
        )
    if not seed_if_created:
        return
    if created:
        await _seed(settings)
    else:
        # Rows deleted or changed since then were deleted or changed on purpose: leave them so.
        log.info("not seeding: table %s was there before this run", settings.table_name)


async def _seed(settings: Settings) -> None:
    backend = Backend(settings)
    try:
        added = await seed(await backend.repository())
        log.info("seeded %s", ", ".join(added) if added else "nothing: the lab's rows are there already")
    finally:
        await backend.aclose()


async def _audit(settings: Settings, *, fix: bool) -> int:
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        return await audit(client, settings.table_name, fix=fix, deadline=settings.dynamodb_deadline)


async def _init_events(settings: Settings) -> Settings:
    """The lab's topic and queues at the local SNS and SQS, and the queue of records that cannot be
    published, then the tables with their stream; the settings with that topic."""
    async with AsyncExitStack() as stack:
        sqs = await open_sqs(settings, stack)
        topic_arn = await ensure_lab_topic(await open_sns(settings, stack), sqs)
        await ensure_failure_queue(sqs)
    if settings.status_topic_arn not in (None, topic_arn):
        log.warning("STATUS_TOPIC_ARN=%s is not the lab's topic %s", settings.status_topic_arn, topic_arn)
    settings = settings.model_copy(update={"status_topic_arn": topic_arn})
    await _init_table(settings)
    return settings


async def _relay(settings: Settings, stop: asyncio.Event) -> None:
    """Relay the table's stream to the topic until `stop` is set."""
    assert settings.status_topic_arn is not None
    async with AsyncExitStack() as stack:
        relay = StreamRelay(
            await open_client(settings, stack),
            await open_streams(settings, stack),
            StatusPublisher(await open_sns(settings, stack), settings.status_topic_arn),
            await open_failure_queue(settings, stack),
            table_name=settings.table_name,
            checkpoint_table=settings.idempotency_table_name,
            guard=lambda: deadline_guard(settings.dynamodb_deadline),
            poll_seconds=settings.relay_poll_seconds,
        )
        await relay.run(stop)


def _stop_on_signals() -> asyncio.Event:
    """An event that SIGINT or SIGTERM sets (called in the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _relay_until_signalled(settings: Settings) -> None:
    log.info("relaying status changes of %s to %s", settings.table_name, settings.status_topic_arn)
    await _relay(settings, _stop_on_signals())


async def _watch_until_signalled(settings: Settings, queue: str) -> None:
    async with AsyncExitStack() as stack:
        await watch(await open_sqs(settings, stack), queue, stop=_stop_on_signals())


class _BackgroundRelay:
    """The relay in a thread of its own with its own event loop, beside the embedded store: SNS never
    shares a loop with the requests."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stop = asyncio.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="relay-events", daemon=True)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(_relay(self._settings, self._stop))
        except Exception:
            log.exception("the relay stopped")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)


def _serve(settings: Settings) -> None:
    relay = None
    listens_on = f"[{settings.host}]" if ":" in settings.host else settings.host
    if settings.auth == "none" and not is_local(listens_on):
        log.warning(
            "AUTH_MODE=none on %s: anyone on the network who reaches this machine%s acts as a technician and "
            "can read and change every request; for a demo on a network you trust only",
            settings.host,
            f" by {', '.join(settings.allowed_hosts)}" if settings.allowed_hosts else "",
        )
    # Both ports are checked before anything starts: a second `make run` says so at once.
    ensure_port_free(settings.host, settings.port, "PORT")
    if settings.mode == "embedded":
        # Everything a newcomer needs to see events arrive: the lab's topic and queues, the table with
        # its stream and the lab's rows, and the relay, all on the embedded moto.
        _server, url = start_embedded_dynamodb(settings.embedded_port)
        settings = asyncio.run(_init_events(settings.with_endpoint(url)))
        asyncio.run(_seed(settings))
        relay = _BackgroundRelay(settings)
        relay.start()
        log.warning("status changes go to %s; watch them with `make watch-events`", settings.status_topic_arn)
    app = create_app(settings)
    collect_less_often()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep the logging set up by configure_logging
        access_log=False,  # the Edge middleware logs each request, with its id
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        http=bounded_http(settings),
        ws="none",  # the service has no WebSocket routes
        timeout_keep_alive=settings.keep_alive_seconds,
    )
    server = _DrainingServer(config, app, settings.shutdown_drain_seconds)
    try:
        server.run()
    finally:
        if relay is not None:
            relay.stop()
    if not server.started:
        sys.exit(3)  # as uvicorn.run does: the server never started (its error is logged)


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, draining on the first SIGTERM or SIGINT: for `drain` seconds it answers on while its
    probes say it is stopping, so a load balancer that checks them takes it out of rotation before it stops
    accepting connections; then uvicorn's own graceful shutdown. A second signal stops it at once."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, drain: float) -> None:
        super().__init__(config)
        self._app = app
        self._drain = drain
        self._drain_timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain > 0 and self._drain_timer is None and self.started:
            self._app.state.draining = True
            log.info("draining for %.1f s: the probes answer 503, requests are still served", self._drain)
            self._drain_timer = threading.Timer(self._drain, super().handle_exit, (sig, frame))
            self._drain_timer.daemon = True
            self._drain_timer.start()
            return
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        super().handle_exit(sig, frame)


def _healthcheck(settings: Settings) -> int:
    """0 when the server on this machine answers /readyz with 200, else 1: the container's probe."""
    # A server on every interface is probed on loopback. S104 flags binding to 0.0.0.0; this only reads it.
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(settings.host, settings.host)  # noqa: S104
    url = f"http://{host}:{settings.port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            status = int(response.status)
    except OSError as exc:  # refused, timed out, or an HTTP error status such as 503
        print(f"not ready: {url}: {exc}", file=sys.stderr)
        return 1
    print(f"ready: {url} answered {status}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the API (HOST, PORT; DYNAMODB_MODE=embedded starts moto)")
    init_table = commands.add_parser(
        "init-table", help="create the table as the lab does, or check an existing one"
    )
    init_table.add_argument(
        "--seed", action="store_true", help="store the lab's rows too, only when this call created the table"
    )
    commands.add_parser("seed", help="store the lab's two example rows unless they exist")
    audit_command = commands.add_parser(
        "audit",
        help="read the whole table once and report the items its lists cannot show or address well; "
        "exit 1 when there are any",
    )
    audit_command.add_argument(
        "--fix",
        action="store_true",
        help="also set misspelled statuses to the website's spelling and missing ones to New Request, "
        "each only while the item is as it was read; never deletes",
    )
    commands.add_parser(
        "healthcheck",
        help="exit 0 when the server on this machine (HOST, PORT) answers /readyz with 200, else 1; it reads "
        "the settings as serve does, so it needs the DynamoDB setting too (exit 2 without)",
    )
    commands.add_parser(
        "relay-events",
        help="publish each creation and status change from the table's stream to STATUS_TOPIC_ARN, going "
        "on where the last run stopped; until SIGINT or SIGTERM",
    )
    commands.add_parser(
        "init-events",
        help="local SNS and SQS only: create the lab's VehicleStatus topic and its two queues, and the "
        "StatusEventFailures queue, then the tables with the stream",
    )
    watch_command = commands.add_parser(
        "watch-events",
        help="print each message that reaches one of the lab's queues, or StatusEventFailures (and take it "
        "off)",
    )
    watch_command.add_argument("--queue", choices=[*sorted(QUEUES), FAILURE_QUEUE], default=ALL_QUEUE)
    args = parser.parse_args(argv)

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "healthcheck":
        return _healthcheck(settings)
    configure_logging(settings.log_level, settings.log_format)

    if args.command == "serve":
        try:
            _serve(settings)
        except ConfigurationError as exc:
            print(f"configuration error: {exc}", file=sys.stderr)
            return 2
    elif settings.mode == "embedded":
        print(
            f"{args.command} needs a DynamoDB that outlives it, not DYNAMODB_MODE=embedded", file=sys.stderr
        )
        return 2
    elif args.command == "init-table":
        try:
            asyncio.run(_init_table(settings, seed_if_created=args.seed))
        except SchemaMismatch as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    elif args.command == "audit":
        return asyncio.run(_audit(settings, fix=args.fix))
    elif args.command in ("relay-events", "init-events", "watch-events"):
        return _events_command(settings, args.command, args)
    else:
        asyncio.run(_seed(settings))
    return 0


def _events_command(settings: Settings, command: str, args: argparse.Namespace) -> int:
    try:
        if command == "relay-events":
            if settings.status_topic_arn is None:
                print("relay-events needs STATUS_TOPIC_ARN: the topic to publish to", file=sys.stderr)
                return 2
            asyncio.run(_relay_until_signalled(settings))
        elif settings.mode == "aws":
            print(f"{command} is for local SNS and SQS; on AWS the stack has the topic", file=sys.stderr)
            return 2
        elif command == "init-events":
            print((asyncio.run(_init_events(settings))).status_topic_arn)
        else:
            asyncio.run(_watch_until_signalled(settings, args.queue))
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (RelayError, SchemaMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
