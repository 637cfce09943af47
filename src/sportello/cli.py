"""The `sportello` command: every subcommand reads the same settings."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from sportello.config import get_settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    settings.resolved_secret_key()
    print(f"Sportello on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)", flush=True)
    uvicorn.run(
        "sportello.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_ping_interval,
        log_level=settings.log_level,
        proxy_headers=True,
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from sportello.migrate import upgrade

    url = get_settings().resolved_database_url
    upgrade(url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def _demo(_: argparse.Namespace) -> int:
    from sportello.demo import load_demo

    summary = asyncio.run(load_demo(get_settings()))
    print(summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sportello",
        description="Sportello customer-support desk. Settings come from SPORTELLO_* variables and .env.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the web app, API and WebSockets")
    serve.add_argument("--host", help="address to bind (default SPORTELLO_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default SPORTELLO_PORT or 8000)")
    serve.add_argument("--workers", type=int, default=1, help="processes (needs PostgreSQL + Redis past 1)")
    serve.set_defaults(func=_serve)

    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    migrate.add_argument("revision", nargs="?", default="head", help="target revision (default head)")
    migrate.set_defaults(func=_migrate)

    demo = sub.add_parser("demo", help="load demo data (idempotent)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
