"""Command line: serve the API, create the table, load the lab's rows."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from contextlib import AsyncExitStack

import uvicorn
from pydantic import ValidationError

from service.app import create_app
from service.dynamo import Backend, open_client
from service.embedded import start_embedded_dynamodb
from service.settings import ConfigurationError, Settings
from service.table import SchemaMismatch, ensure_table, seed

log = logging.getLogger("service")


async def _init_table(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        created = await ensure_table(client, settings.table_name)
        log.info(
            "table %s %s", settings.table_name, "created" if created else "exists with the expected layout"
        )


async def _init_and_seed(settings: Settings) -> None:
    await _init_table(settings)
    await _seed(settings)


async def _seed(settings: Settings) -> None:
    backend = Backend(settings)
    try:
        added = await seed(await backend.repository())
        log.info("seeded %s", ", ".join(added) if added else "nothing: the lab's rows are there already")
    finally:
        await backend.aclose()


def _serve(settings: Settings) -> None:
    if settings.mode == "embedded":
        _server, url = start_embedded_dynamodb()
        settings = settings.with_endpoint(url)
        asyncio.run(_init_and_seed(settings))
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the API (HOST, PORT; DYNAMODB_MODE=embedded starts moto)")
    commands.add_parser("init-table", help="create the table as the lab does, or check an existing one")
    commands.add_parser("seed", help="store the lab's two example rows unless they exist")
    args = parser.parse_args(argv)

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

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
            asyncio.run(_init_table(settings))
        except SchemaMismatch as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    else:
        asyncio.run(_seed(settings))
    return 0
