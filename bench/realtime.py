"""Scenarios 1 and 2 of the performance issue: relay limit vs Sportello, latency under load.

`python bench/realtime.py [--quick]`: starts each server as its own process on 127.0.0.1, drives
it from a separate load process (bench/load.py), repeats each measurement and reports medians,
then writes the `realtime` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from bench.common import (
    Server,
    free_port,
    machine,
    median,
    now_stamp,
    sportello_server,
    write_section,
)

HERE = Path(__file__).resolve().parent
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(HERE / "load.py"), json.dumps(spec)],
        capture_output=True, text=True, timeout=spec["seconds"] + 120, check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def relay_pairs(port: int, n: int) -> list[list[str]]:
    return [[f"ws://127.0.0.1:{port}/r{i}/visitor", f"ws://127.0.0.1:{port}/r{i}/peer"] for i in range(n)]


async def _live_conversations(env: dict[str, str], port: int, n: int) -> list[list[str]]:
    """Open n conversations and put them in live chat, as if an operator had accepted each."""
    from sportello.config import Settings
    from sportello.conversations.models import Conversation
    from sportello.runtime import Runtime

    pairs = []
    ids = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(n):
            conv = (await http.post("/api/v1/conversations", json={})).json()
            ids.append(uuid.UUID(conv["id"]))
            url = f"ws://127.0.0.1:{port}/ws/conversations/{conv['id']}?token={conv['token']}"
            pairs.append([url, url])
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=Path(env["SPORTELLO_DATA_DIR"]),
        database_url=env.get("SPORTELLO_DATABASE_URL", ""),
    )
    rt = Runtime(settings)
    async with rt.db.scope() as session:
        await session.execute(update(Conversation).where(Conversation.id.in_(ids)).values(status="live"))
    await rt.db.dispose()
    return pairs


def _pg_database() -> str:
    import asyncpg

    name = f"sportello_bench_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(create())
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def sportello_env(backend: str, data_dir: str) -> dict[str, str]:
    env = {
        "SPORTELLO_DATA_DIR": data_dir,
        "SPORTELLO_SECRET_KEY": uuid.uuid4().hex,
        "SPORTELLO_LOG_LEVEL": "warning",
        "SPORTELLO_ASSISTANT_SEMANTIC": "false",
        # The load generator is one address driving many conversations far faster than a person.
        "SPORTELLO_LIMIT_CONVERSATIONS_PER_ADDRESS_HOUR": "0",
        "SPORTELLO_LIMIT_MESSAGES_PER_CONVERSATION_MINUTE": "0",
        "SPORTELLO_LIMIT_WS_FRAMES_PER_SECOND": "0",
    }
    if backend == "postgres":
        env["SPORTELLO_DATABASE_URL"] = _pg_database()
        env["SPORTELLO_REDIS_URL"] = "redis://127.0.0.1:6379/0"
        env["SPORTELLO_REDIS_PREFIX"] = f"bench-{uuid.uuid4().hex[:6]}"
    subprocess.run([sys.executable, "-m", "sportello", "migrate"], env={**__import__("os").environ, **env}, check=True, capture_output=True)
    return env


def measure(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"throughput": {}, "latency": {}}
    pairs_n = args.pairs
    # 1. Relay limit vs Sportello, same load, same invocation.
    relay_port = free_port()
    relay = Server([sys.executable, str(HERE / "relay.py"), str(relay_port)], relay_port, ready_path="").start()
    try:
        runs = [
            run_load({"mode": "throughput", "kind": "relay", "pairs": relay_pairs(relay_port, pairs_n),
                      "seconds": args.seconds, "window": args.window})
            for _ in range(args.repeat)
        ]
        results["throughput"]["relay"] = median([r["messages_per_second"] for r in runs])
    finally:
        relay.stop()
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as data_dir:
            env = sportello_env(backend, data_dir)
            port = free_port()
            server = sportello_server(port, env).start()
            try:
                rates = []
                cpu = []
                for _ in range(args.repeat):
                    pairs = asyncio.run(_live_conversations(env, port, pairs_n))
                    before = server.cpu_seconds()
                    r = run_load({"mode": "throughput", "kind": "sportello", "pairs": pairs,
                                  "seconds": args.seconds, "window": args.window})
                    used = server.cpu_seconds() - before
                    rates.append(r["messages_per_second"])
                    cpu.append(used / max(1, r["received"]) * 1e6)
                results["throughput"][backend] = median(rates)
                results["throughput"][f"{backend}_cpu_us_per_message"] = median(cpu)
                lat: dict[str, Any] = {}
                for rate in args.rates:
                    runs = []
                    for _ in range(args.repeat):
                        pairs = asyncio.run(_live_conversations(env, port, pairs_n))
                        runs.append(run_load({"mode": "latency", "kind": "sportello", "pairs": pairs,
                                              "seconds": args.seconds, "rate": rate}))
                    lat[str(rate)] = {
                        "p50_ms": median([r["p50_ms"] for r in runs]),
                        "p99_ms": median([r["p99_ms"] for r in runs]),
                        "delivered_per_s": median([r["messages_per_second"] for r in runs]),
                        "unanswered": max(r["unanswered"] for r in runs),
                    }
                results["latency"][backend] = lat
            finally:
                server.stop()
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    t = results["throughput"]
    lines = [
        "## Realtime: relay limit vs Sportello, latency under load",
        "",
        f"Taken {now_stamp()} on {machine()}.",
        f"Command: `make bench-realtime` (`python bench/realtime.py{' --quick' if args.quick else ''}`): "
        f"{args.pairs} visitor→receiver socket pairs, {args.seconds:.0f} s per run, median of {args.repeat} runs; "
        "server and load generator are separate processes on 127.0.0.1 (2 cores shared).",
        "",
        "Sportello's path: the visitor's frame is validated, stored with its sequence number "
        "(committed), published on the bus and delivered to the receiving socket of the same "
        "conversation (plus the sender's own acknowledgement). The bare relay forwards the frame unchanged.",
        "",
        "| server | messages/s | vs relay | server CPU per message |",
        "|---|---|---|---|",
        f"| bare relay (`websockets` only) | {t['relay']:.0f} | 100% | |",
    ]
    for backend in args.backends:
        if backend in t:
            lines.append(
                f"| Sportello, {'SQLite' if backend == 'sqlite' else 'PostgreSQL + Redis'} | {t[backend]:.0f} | "
                f"{100 * t[backend] / t['relay']:.0f}% | {t[backend + '_cpu_us_per_message']:.0f} µs |"
            )
    lines += ["", "One-way visitor → receiver latency, open loop (from the scheduled send time):", "",
              "| backend | offered msg/s | delivered msg/s | p50 | p99 | unanswered |", "|---|---|---|---|---|---|"]
    for backend, rows in results["latency"].items():
        for rate, r in rows.items():
            lines.append(
                f"| {backend} | {rate} | {r['delivered_per_s']:.0f} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['unanswered']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (for a smoke check)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    args.pairs = 20
    args.window = 8
    args.seconds = 3.0 if args.quick else 8.0
    args.repeat = 1 if args.quick else 3
    args.rates = [200, 1000, 2000]
    results = measure(args)
    text = report(results, args)
    print(text)
    write_section("realtime", text)


if __name__ == "__main__":
    main()
