"""The `sportello` command: every subcommand reads the same settings."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from sportello.config import get_settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sportello.logs import log_config

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
        log_config=log_config(settings.log_level),
        proxy_headers=True,
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from sportello.migrate import upgrade

    url = get_settings().resolved_database_url
    upgrade(url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from sportello.demo import load_demo

    summary = asyncio.run(load_demo(get_settings()))
    print(summary)
    if args.history:
        from sportello.analytics.generator import history_command

        print(asyncio.run(history_command(get_settings(), args.history, args.conversations)))
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


def _operator_create(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from sportello.errors import DomainError
    from sportello.operators.schemas import OperatorCreate
    from sportello.operators.service import create_operator
    from sportello.runtime import Runtime

    password = sys.stdin.readline().rstrip("\r\n")
    try:
        data = OperatorCreate(
            email=args.email, name=args.name, password=password, role=args.role, tier=args.tier,
            languages=args.languages, skills=args.skills, max_chats=args.max_chats,
        )
    except ValidationError as exc:
        for err in exc.errors():
            print(f"{'.'.join(map(str, err['loc']))}: {err['msg']}", file=sys.stderr)
        return 2

    async def run() -> str:
        rt = Runtime(get_settings())
        try:
            async with rt.db.scope() as session:
                op = await create_operator(session, data)
                return f"operator {op.email} created ({op.role}, tier {op.tier}, languages {','.join(op.languages)}), id {op.id}"
        finally:
            await rt.db.dispose()

    try:
        print(asyncio.run(run()))
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    return 0


def _privacy(args: argparse.Namespace) -> int:
    from sportello.errors import DomainError
    from sportello.privacy import service as privacy
    from sportello.runtime import Runtime

    settings = get_settings()
    try:
        subject = privacy.parse_subject(args.email, args.phone, region=settings.holiday_country)
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    if args.privacy_command == "erase" and not args.yes:
        print("erasure deletes the person's conversations, tickets and notifications for good; add --yes", file=sys.stderr)
        return 2

    async def run() -> str:
        rt = Runtime(settings)
        secret = settings.resolved_secret_key()
        try:
            async with rt.db.scope() as session:
                if args.privacy_command == "export":
                    return privacy.dumps(await privacy.export(session, subject, actor_type="cli", actor_id=None, secret=secret))
                counts = await privacy.erase(session, subject, actor_type="cli", actor_id=None, secret=secret)
                return "erased (reference " + subject.digest(secret)[:16] + "): " + ", ".join(privacy.summary(counts))
        finally:
            await rt.db.dispose()

    text = asyncio.run(run())
    if args.privacy_command == "export" and args.output and args.output != "-":
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        print(text)
    return 0


def _worker(_: argparse.Namespace) -> int:
    from sportello import ticker
    from sportello.runtime import Runtime

    async def run() -> None:
        from sportello import notifications
        from sportello.notifications import worker as outbox_worker

        rt = Runtime(get_settings())
        await rt.start()
        notifications.install(rt)
        jobs = [ticker.run(rt)]
        if rt.settings.outbox_worker_enabled:
            jobs.append(outbox_worker.run(rt))  # deliver notifications from the outbox
        try:
            await asyncio.gather(*jobs)
        finally:
            await rt.stop()

    print("sportello worker: ticking and delivering notifications (Ctrl-C to stop)", flush=True)
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
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
    demo.add_argument("--history", type=int, metavar="DAYS", default=0, help="also write DAYS days of realistic history for the reports (not idempotent)")
    demo.add_argument("--conversations", type=int, metavar="N", default=None, help="conversations in the history (default: 550 a day on average)")
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

    operator = sub.add_parser("operator", help="manage operator accounts")
    operator_sub = operator.add_subparsers(dest="operator_command", required=True, metavar="ACTION")
    op_create = operator_sub.add_parser("create", help="create an operator (password read from stdin)")
    op_create.add_argument("--email", required=True)
    op_create.add_argument("--name", required=True)
    op_create.add_argument("--password-stdin", action="store_true", required=True, help="read the password from standard input")
    op_create.add_argument("--role", choices=["agent", "supervisor", "admin"], default="agent")
    op_create.add_argument("--tier", type=int, choices=[1, 2, 3], default=1, help="1, 2, or 3 (manager)")
    op_create.add_argument("--languages", default="it", help="comma-separated, e.g. it,en")
    op_create.add_argument("--skills", default="", help="comma-separated knowledge-base tags")
    op_create.add_argument("--max-chats", type=int, default=3)
    op_create.set_defaults(func=_operator_create)

    privacy = sub.add_parser("privacy", help="data-subject requests: export or erase what is held about a person")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True, metavar="ACTION")
    for action, help_text in (
        ("export", "write everything held about an email or phone number as JSON"),
        ("erase", "delete everything held about an email or phone number (needs --yes)"),
    ):
        p = privacy_sub.add_parser(action, help=help_text)
        p.add_argument("--email", help="the person's email address")
        p.add_argument("--phone", help="the person's phone number (Italian numbers may omit +39)")
        if action == "export":
            p.add_argument("-o", "--output", help="file to write (default: standard output)")
        else:
            p.add_argument("--yes", action="store_true", help="confirm the erasure")
        p.set_defaults(func=_privacy)

    worker = sub.add_parser("worker", help="run the ticker (deadlines, routing, queue updates) without serving HTTP")
    worker.set_defaults(func=_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
