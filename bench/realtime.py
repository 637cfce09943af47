"""Scenarios 1, 2 and 7 of the performance issue: relay limit vs Sportello, latency, CPU per message.

`python -m bench.realtime [--quick]`: starts each server as its own process on 127.0.0.1, drives
it from a separate load process (bench/load.py), repeats each measurement and reports medians,
then writes the `realtime` section of docs/benchmarks.md.

Sportello's path is the real one: operators log in and hold `WS /ws/operator`; each visitor's
conversation is handed off, offered and accepted, and the visitor's frames are measured where
the operator's socket receives them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from bench.common import (
    Server,
    bearer,
    drop_pg_database,
    free_port,
    machine,
    make_operators,
    median,
    now_stamp,
    sportello_env,
    sportello_server,
    write_section,
)

HERE = Path(__file__).resolve().parent
OPERATORS = 4


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(HERE / "load.py"), json.dumps(spec)],
        capture_output=True, text=True, timeout=spec["seconds"] + 120, check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def relay_pairs(port: int, n: int) -> list[list[str]]:
    return [[f"ws://127.0.0.1:{port}/r{i}/visitor", f"ws://127.0.0.1:{port}/r{i}/peer"] for i in range(n)]


async def _operator_chats(port: int, tokens: list[str], n: int) -> tuple[list[list[str]], list[tuple[str, str]]]:
    """Open n conversations and take each through the real handoff: queued, offered, accepted.

    Returns the [visitor socket, operator socket] pairs for the load process and the
    (conversation id, operator token) of each chat so it can be ended afterwards.
    """
    base = f"http://127.0.0.1:{port}"
    ws_base = f"ws://127.0.0.1:{port}"
    offers: dict[str, str] = {}
    got_all = asyncio.Event()

    async def watch(token: str, ws: Any) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "offer.created":
                offers[frame["conversation_id"]] = token
                if len(offers) >= n:
                    got_all.set()

    sockets = []
    for token in tokens:
        ws = await connect(f"{ws_base}/ws/operator?token={token}", ping_interval=None)
        while json.loads(await ws.recv()).get("type") != "ready":
            pass
        sockets.append(ws)
    watchers = [asyncio.create_task(watch(t, ws)) for t, ws in zip(tokens, sockets, strict=True)]
    visitors: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for _ in range(n):
            conv = (await http.post("/api/v1/conversations", json={})).json()
            visitors[conv["id"]] = conv["token"]
            r = await http.post(f"/api/v1/conversations/{conv['id']}/handoff", headers=bearer(conv["token"]))
            if r.json().get("outcome") != "queued":
                raise RuntimeError(f"handoff not queued: {r.text}")
        await asyncio.wait_for(got_all.wait(), 60)
        for conv_id, token in offers.items():
            (await http.post(f"/api/v1/conversations/{conv_id}/accept", headers=bearer(token))).raise_for_status()
    for task in watchers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    pairs = [
        [f"{ws_base}/ws/conversations/{cid}?token={visitors[cid]}", f"{ws_base}/ws/operator?token={tok}"]
        for cid, tok in offers.items()
    ]
    return pairs, list(offers.items())


async def _end_chats(port: int, chats: list[tuple[str, str]]) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        for conv_id, token in chats:
            await http.post(f"/api/v1/conversations/{conv_id}/end", headers=bearer(token))


def operator_chats(port: int, tokens: list[str], n: int) -> tuple[list[list[str]], list[tuple[str, str]]]:
    return asyncio.run(_operator_chats(port, tokens, n))


def end_chats(port: int, chats: list[tuple[str, str]]) -> None:
    asyncio.run(_end_chats(port, chats))


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
                tokens = asyncio.run(make_operators(env, f"http://127.0.0.1:{port}", OPERATORS, max_chats=20))
                rates = []
                cpu = []
                for _ in range(args.repeat):
                    pairs, chats = operator_chats(port, tokens, pairs_n)
                    before = server.cpu_seconds()
                    with server.sampled(f"{backend}-throughput-{len(rates)}"):
                        r = run_load({"mode": "throughput", "kind": "sportello", "pairs": pairs,
                                      "seconds": args.seconds, "window": args.window})
                    used = server.cpu_seconds() - before
                    end_chats(port, chats)
                    rates.append(r["messages_per_second"])
                    cpu.append(used / max(1, r["received"]) * 1e6)
                results["throughput"][backend] = median(rates)
                results["throughput"][f"{backend}_cpu_us_per_message"] = median(cpu)
                lat: dict[str, Any] = {}
                for rate in args.rates:
                    runs = []
                    for _ in range(args.latency_repeat):
                        pairs, chats = operator_chats(port, tokens, pairs_n)
                        with server.sampled(f"{backend}-latency{rate}-{len(runs)}"):
                            runs.append(run_load({"mode": "latency", "kind": "sportello", "pairs": pairs,
                                                  "seconds": args.latency_seconds, "rate": rate}))
                        end_chats(port, chats)
                    lat[str(rate)] = {
                        "p50_ms": median([r["p50_ms"] for r in runs]),
                        "p99_ms": median([r["p99_ms"] for r in runs]),
                        "delivered_per_s": median([r["messages_per_second"] for r in runs]),
                        "unanswered": max(r["unanswered"] for r in runs),
                    }
                results["latency"][backend] = lat
            finally:
                server.stop()
                if "SPORTELLO_DATABASE_URL" in env:
                    drop_pg_database(env["SPORTELLO_DATABASE_URL"])
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    t = results["throughput"]
    lines = [
        "## Realtime: relay limit vs Sportello, latency under load",
        "",
        f"Taken {now_stamp()} on {machine()}.",
        f"Command: `make bench-realtime` (`python bench/realtime.py{' --quick' if args.quick else ''}`): "
        f"{args.pairs} visitor sockets chatting with {OPERATORS} operator sockets; throughput {args.seconds:.0f} s per run, "
        f"median of {args.repeat} runs; latency {args.latency_seconds:.0f} s per run, median of {args.latency_repeat} runs; "
        "server and load generator are separate processes on 127.0.0.1 (2 cores shared).",
        "",
        "Sportello's path: each conversation was handed off and accepted by a logged-in operator "
        "holding `WS /ws/operator`; the visitor's frame is validated, stored with its sequence number "
        "(committed), published on the bus and delivered to the operator's socket (plus the visitor's "
        "own echo). The bare relay forwards the frame unchanged. Server CPU per message is scenario 7.",
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
    lines += ["", "One-way visitor → operator latency, open loop (from the scheduled send time):", "",
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
    parser.add_argument("--rates", nargs="+", type=int, default=[200, 1000, 2000],
                        help="offered messages/s of the latency runs")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    args.pairs = 20
    args.window = 8
    args.seconds = 3.0 if args.quick else 8.0
    args.repeat = 1 if args.quick else 3
    # Budget: `make bench` must finish in 15 minutes; six latency runs per backend.
    args.latency_seconds = 3.0 if args.quick else 5.0
    args.latency_repeat = 1 if args.quick else 2
    results = measure(args)
    text = report(results, args)
    print(text)
    if not args.no_write:
        write_section("realtime", text)


if __name__ == "__main__":
    main()
