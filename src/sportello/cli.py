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


def _assistant_ask(args: argparse.Namespace) -> int:
    from sportello.assistant.cli import ask_command

    return ask_command(args.kb, args.json, args.questions, semantic=args.semantic, lang=args.lang)


def _kb_import(args: argparse.Namespace) -> int:
    from sportello.assistant.kb import KBValidationError, load_kb_file
    from sportello.assistant.service import replace_topics
    from sportello.runtime import Runtime

    try:
        topics = load_kb_file(args.file)
    except KBValidationError as exc:
        print(f"{args.file}: nothing imported.\n{exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2

    async def run() -> dict[str, int]:
        rt = Runtime(get_settings())
        try:
            async with rt.db.scope() as session:
                return await replace_topics(session, topics, actor_type="cli")
        finally:
            await rt.db.dispose()

    summary = asyncio.run(run())
    print("knowledge base imported: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return 0


def _kb_export(args: argparse.Namespace) -> int:
    from sportello.assistant.kb import dump_kb_yaml
    from sportello.assistant.service import load_topics
    from sportello.runtime import Runtime

    async def run() -> str:
        rt = Runtime(get_settings())
        try:
            async with rt.db.scope() as session:
                return dump_kb_yaml(await load_topics(session))
        finally:
            await rt.db.dispose()

    text = asyncio.run(run())
    if args.output and args.output != "-":
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
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

    from sportello.assistant.cli import add_arguments as add_ask_arguments

    assistant = sub.add_parser("assistant", help="the assistant, without a server")
    assistant_sub = assistant.add_subparsers(dest="assistant_command", required=True, metavar="COMMAND")
    ask = assistant_sub.add_parser(
        "ask", help="answer questions from a knowledge-base file (no server, no database)"
    )
    add_ask_arguments(ask)
    ask.set_defaults(func=_assistant_ask)

    kb = sub.add_parser("kb", help="import or export the knowledge base (YAML)")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, metavar="COMMAND")
    kb_import = kb_sub.add_parser("import", help="replace the knowledge base with FILE (all or nothing)")
    kb_import.add_argument("file", help="YAML file, in the format of `sportello kb export`")
    kb_import.set_defaults(func=_kb_import)
    kb_export = kb_sub.add_parser("export", help="write the knowledge base as YAML")
    kb_export.add_argument("-o", "--output", help="file to write (default: standard output)")
    kb_export.set_defaults(func=_kb_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
