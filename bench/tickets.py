"""Scenario 6 of the performance issue: the ticket list API on 200,000 tickets.

`python -m bench.tickets [--quick]`: generates the tickets (half of them from a chat with two
messages) with bulk inserts, starts Sportello on SQLite and on PostgreSQL + Redis, and times
`GET /api/v1/tickets` pages of 50 with filters and a text search, as a supervisor, from this
process; writes the `tickets` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    bearer,
    drop_pg_database,
    free_port,
    machine,
    make_operators,
    now_stamp,
    percentile,
    runtime_for,
    sportello_env,
    sportello_server,
    write_section,
)

WORDS = (
    "biglietto rimborso parcheggio navetta orari accessibilità passeggino cane bambini gruppo "
    "pagamento carta fattura annullamento pioggia neve ingresso uscita bagni ristorante mercatino "
    "luci presepe concerto prenotazione codice sconto email conferma ritardo treno autobus hotel "
    "ticket refund parking shuttle opening wheelchair stroller dog children group payment invoice "
    "cancel rain snow entrance restaurant market lights booking discount confirmation delay train"
).split()
STATUSES = ["open", "in_progress", "waiting_user", "resolved", "closed"]
PRIORITIES = ["low", "medium", "high", "urgent"]
QUERIES = {
    "open or in progress, search 'rimborso'": {"status": "open,in_progress", "q": "rimborso"},
    "search 'navetta', newest first": {"q": "navetta"},
    "high or urgent, unassigned": {"priority": "high,urgent", "assignee": "none"},
    "tier 2, by SLA due time": {"tier": "2", "sort": "sla_due_at"},
    "search a ticket number": {"q": "LDN-0000777"},
    "search a rare phrase 'presepe vivente'": {"q": "presepe vivente"},
}


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


async def generate(env: dict[str, str], n: int) -> None:
    """n tickets over the last year; every other one comes from a chat with two messages."""
    from sqlalchemy import text

    from sportello.conversations.models import Conversation, Message
    from sportello.tickets.models import Ticket
    from sportello.timeutil import utc_now

    rng = random.Random(7)
    rt = runtime_for(env)
    now = utc_now()
    chunk = 5000
    try:
        for start in range(0, n, chunk):
            convs: list[dict[str, Any]] = []
            messages: list[dict[str, Any]] = []
            tickets: list[dict[str, Any]] = []
            for i in range(start, min(n, start + chunk)):
                created = now - timedelta(seconds=rng.randrange(365 * 86400))
                conv_id = None
                if i % 2 == 0:
                    conv_id = uuid.uuid4()
                    convs.append({
                        "id": conv_id, "token_hash": uuid.uuid4().hex, "status": "ticketed", "language": "it",
                        "channel": "web", "last_seq": 2, "created_at": created, "updated_at": created,
                        "last_activity_at": created, "priority": "medium",
                    })
                    for seq in (1, 2):
                        messages.append({
                            "conversation_id": conv_id, "seq": seq, "sender": "visitor" if seq == 1 else "assistant",
                            "body": sentence(rng, 12), "channel": "web", "created_at": created, "metadata": {},
                        })
                priority = rng.choice(PRIORITIES)
                status = rng.choice(STATUSES)
                tickets.append({
                    "id": uuid.uuid4(), "number": f"LDN-{i:07d}", "seq": i, "subject": sentence(rng, 5),
                    "description": sentence(rng, 25), "conversation_id": conv_id, "status": status,
                    "priority": priority, "contact_method": "email", "email": f"c{i}@example.com",
                    "language": "it", "vip": False, "tier": rng.choice((1, 1, 1, 2, 3)), "tags": [],
                    "source": "chat" if conv_id else "email", "created_at": created, "updated_at": created,
                    "sla_business_hours": True, "first_response_seconds": 3600, "resolution_seconds": 86400,
                    "sla_pauses": [], "escalations": 0,
                    "sla_due_at": created + timedelta(hours=rng.randrange(1, 72)) if status in ("open", "in_progress") else None,
                })
            async with rt.db.engine.begin() as conn:
                if convs:
                    await conn.execute(Conversation.__table__.insert(), convs)
                    await conn.execute(Message.__table__.insert(), messages)
                await conn.execute(Ticket.__table__.insert(), tickets)
        # As after any bulk load: planner statistics now, not when autovacuum gets round to it.
        async with rt.db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await rt.db.dispose()


async def time_queries(base: str, token: str, repeat: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=bearer(token)) as http:
        for name, params in QUERIES.items():
            r = await http.get("/api/v1/tickets", params={**params, "limit": "50"})
            r.raise_for_status()
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                r = await http.get("/api/v1/tickets", params={**params, "limit": "50"})
                times.append(time.perf_counter() - started)
                r.raise_for_status()
            out[name] = {"p50_ms": percentile(times, 50) * 1000, "p95_ms": percentile(times, 95) * 1000,
                         "rows": float(len(r.json()["items"]))}
    return out


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    if args.reuse:
        # Generating 200k tickets takes minutes: keep the data between runs of this machine.
        data_dir = str(Path(tempfile.gettempdir()) / f"sportello-bench-tickets-{args.tickets}")
        Path(data_dir).mkdir(exist_ok=True)
        return _run_on(backend, args, data_dir)
    with tempfile.TemporaryDirectory() as data_dir:
        return _run_on(backend, args, data_dir)


def _run_on(backend: str, args: argparse.Namespace, data_dir: str) -> dict[str, Any]:
    database = f"sportello_bench_tickets_{args.tickets}" if args.reuse else None
    env = sportello_env(backend, data_dir, database=database)
    generated = 0.0
    if not (args.reuse and asyncio.run(count_tickets(env)) == args.tickets):
        started = time.perf_counter()
        asyncio.run(generate(env, args.tickets))
        generated = time.perf_counter() - started
    port = free_port()
    server = sportello_server(port, env).start()
    try:
        base = f"http://127.0.0.1:{port}"
        (token,) = asyncio.run(make_operators(env, base, 1, role="supervisor"))
        return {"generate_s": generated, "queries": asyncio.run(time_queries(base, token, args.repeat))}
    finally:
        server.stop()
        if "SPORTELLO_DATABASE_URL" in env and not args.reuse:
            drop_pg_database(env["SPORTELLO_DATABASE_URL"])


async def count_tickets(env: dict[str, str]) -> int:
    from sqlalchemy import func, select

    from sportello.tickets.models import Ticket

    rt = runtime_for(env)
    try:
        async with rt.db.scope() as session:
            return int((await session.execute(select(func.count()).select_from(Ticket))).scalar_one())
    finally:
        await rt.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--reuse", action="store_true",
                        help="keep the generated tickets (in the temp folder and a fixed PostgreSQL database) for the next run")
    parser.add_argument("--no-write", action="store_true", help="print the figures without writing docs/benchmarks.md")
    args = parser.parse_args()
    args.tickets = 20_000 if args.quick else 200_000
    args.repeat = 10 if args.quick else 40
    results = {b: run_backend(b, args) for b in args.backends}
    target = {"sqlite": 100.0, "postgres": 50.0}
    lines = [
        "## Ticket API: filtered lists and text search",
        "",
        f"Taken {now_stamp()} on {machine()}. Command: `make bench-tickets` "
        f"(`python -m bench.tickets{' --quick' if args.quick else ''}`). {args.tickets:,} tickets over a year "
        "(half from a chat with two messages, which the text search also reads), generated with bulk inserts; "
        f"`GET /api/v1/tickets?limit=50&…` as a supervisor, {args.repeat} timed requests per query after one "
        "warm-up, from a separate process on 127.0.0.1.",
        "",
        "| query | " + " | ".join(f"{'SQLite' if b == 'sqlite' else 'PostgreSQL'} p50 / p95 (rows)" for b in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for name in QUERIES:
        cells = []
        for r in results.values():
            q = r["queries"][name]
            cells.append(f"{q['p50_ms']:.0f} / {q['p95_ms']:.0f} ms ({q['rows']:.0f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    verdicts = []
    for b, r in results.items():
        worst = max(q["p95_ms"] for q in r["queries"].values())
        verdicts.append(
            f"{'SQLite' if b == 'sqlite' else 'PostgreSQL'}: worst p95 {worst:.0f} ms "
            f"(target < {target[b]:.0f} ms, {'met' if worst < target[b] else 'NOT met'})"
            + (f"; generated in {r['generate_s']:.0f} s" if r["generate_s"] else "; data reused")
        )
    lines += ["", "; ".join(verdicts) + "."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("tickets", text)


if __name__ == "__main__":
    main()
