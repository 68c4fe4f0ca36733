"""Command line: serve the API, create the table, load the lab's rows, audit the table's items."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import urllib.request
from contextlib import AsyncExitStack

import uvicorn
from pydantic import ValidationError

from service.app import create_app
from service.audit import audit
from service.connections import bounded_http
from service.dynamo import Backend, open_client
from service.embedded import start_embedded_dynamodb
from service.lab import seed
from service.logs import configure_logging
from service.settings import ConfigurationError, Settings
from service.table import SchemaMismatch, ensure_tables

log = logging.getLogger("service")

# Allocations between two collections of the youngest generation (Python's default: 700).
GC_THRESHOLD = 10_000


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
        return await audit(client, settings.table_name, fix=fix)


def _tune_gc() -> None:
    """Collect less often: each DynamoDB call allocates many short-lived objects (botocore), so
    Python's default of a collection every 700 allocations cost 10 to 15% of the CPU per request under
    load (bench/api_load.py). The objects built at start up are frozen out of every later collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def _serve(settings: Settings) -> None:
    if settings.mode == "embedded":
        _server, url = start_embedded_dynamodb()
        settings = settings.with_endpoint(url)
        asyncio.run(_init_table(settings, seed_if_created=True))
    app = create_app(settings)
    _tune_gc()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep the logging set up by configure_logging
        access_log=False,  # RequestLogMiddleware logs each request, with its id
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        http=bounded_http(settings),
        ws="none",  # the service has no WebSocket routes
    )


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
    commands.add_parser("healthcheck", help="exit 0 when the local server's /readyz answers 200")
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
    else:
        asyncio.run(_seed(settings))
    return 0
