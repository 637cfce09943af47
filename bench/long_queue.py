"""Scenario 5 of the performance issue: a long queue moving at 20 chats a second.

`python -m bench.long_queue [--quick]`: fills the queue of a Sportello process on SQLite with
waiting visitors (through the queue service, as a handoff does), starts the server, and from a
separate load process (bench/load_queue.py) holds every visitor's socket open while operators
accept offers at 20 chats/s and end each chat shortly after. Reports whether every waiting visitor
got position updates, how far apart they came (the design says at most one a second), whether a
position ever went up, and the event-loop lag; writes the `queue` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.capacity import lag_histogram, lag_p99_ms
from bench.common import (
    free_port,
    machine,
    make_operators,
    median,
    now_stamp,
    runtime_for,
    sportello_env,
    sportello_server,
    write_section,
)

HERE = Path(__file__).resolve().parent
SERVER_ENV = {
    # Nobody times out of the queue or out of an offer during the run.
    "SPORTELLO_QUEUE_WAIT_SECONDS": "86400",
    "SPORTELLO_INITIAL_RESPONSE_SECONDS": "600",
    "SPORTELLO_VISITOR_INACTIVITY_SECONDS": "86400",
}


async def fill_queue(env: dict[str, str], n: int) -> list[tuple[str, str]]:
    """n conversations waiting in the queue, oldest first: (id, token) of each."""
    from sportello.conversations.schemas import ConversationCreate
    from sportello.conversations.service import create_conversation
    from sportello.queue.service import enqueue
    from sportello.timeutil import utc_now

    rt = runtime_for(env)
    rt.settings.queue_wait_seconds = 86400.0
    out = []
    start = utc_now() - timedelta(seconds=n / 10)
    try:
        for chunk in range(0, n, 500):
            async with rt.db.scope() as session:
                for i in range(chunk, min(n, chunk + 500)):
                    conv, token = await create_conversation(session, ConversationCreate(), language="it", user_agent="bench")
                    at = start + timedelta(milliseconds=100 * i)
                    await enqueue(session, rt.settings, conv, priority="medium", reason="bench", now=at, enqueued_at=at)
                    out.append((str(conv.id), token))
    finally:
        await rt.db.dispose()
    return out


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir:
        env = sportello_env("sqlite", data_dir, **SERVER_ENV)
        convs = asyncio.run(fill_queue(env, args.visitors))
        port = free_port()
        server = sportello_server(port, env).start()
        try:
            tokens = asyncio.run(make_operators(env, f"http://127.0.0.1:{port}", args.operators, max_chats=args.max_chats))
            ready = Path(data_dir) / "ready"
            spec = {
                "visitors": [f"ws://127.0.0.1:{port}/ws/conversations/{c}?token={t}" for c, t in convs],
                "operators": [f"ws://127.0.0.1:{port}/ws/operator?token={t}" for t in tokens],
                "rate": args.rate, "hold": args.hold, "seconds": args.seconds, "warm_up": args.warm_up,
                "ready_file": str(ready),
            }
            spec_path = Path(data_dir) / "spec.json"
            spec_path.write_text(json.dumps(spec))
            load = subprocess.Popen([sys.executable, str(HERE / "load_queue.py"), str(spec_path)], stdout=subprocess.PIPE, text=True)
            while not ready.exists() and load.poll() is None:
                time.sleep(0.2)
            time.sleep(args.warm_up)
            before = lag_histogram(port)
            out, _ = load.communicate(timeout=args.seconds + 600)
            after = lag_histogram(port)
            result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
            result["lag_p99_ms"] = lag_p99_ms(before, after)
            return result
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--visitors", type=int)
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--no-write", action="store_true", help="print the figures without writing docs/benchmarks.md")
    args = parser.parse_args()
    args.visitors = args.visitors or (1000 if args.quick else 5000)
    args.rate = 20.0
    args.hold = 1.0
    args.operators = 4
    args.max_chats = 15
    args.seconds = 20.0 if args.quick else 40.0
    args.warm_up = 5.0
    # Opening 5,000 sockets and filling the queue take about a minute per run: one run keeps
    # `make bench` within its 15 minutes (`--repeat` for more).
    args.repeat = args.repeat or 1
    runs = [one_run(args) for _ in range(args.repeat)]
    r = {k: median([x[k] for x in runs]) for k in ("accept_rate", "gap_p50_s", "gap_p99_s", "lag_p99_ms")}
    worst = {k: max(x[k] for x in runs) for k in ("too_soon", "increases", "failures", "gap_max_s")}
    judged = min(x["visitors_judged"] for x in runs)
    updated = min(x["visitors_updated"] for x in runs)
    lines = [
        "## Long queue: position updates while operators take 20 chats a second",
        "",
        f"Taken {now_stamp()} on {machine()}. Command: `make bench-queue` "
        f"(`python -m bench.long_queue{' --quick' if args.quick else ''}`); Sportello on SQLite, one process "
        "with its ticker; the load runs in a separate process on 127.0.0.1.",
        "",
        f"{args.visitors} visitors wait in the queue with their widget sockets open; {args.operators} operators "
        f"(up to {args.max_chats} chats each) accept offers over their sockets at {args.rate:.0f} chats/s in total and end "
        f"each chat {args.hold:.0f} s after accepting it. Judged over {args.seconds - args.warm_up:.0f} s after a "
        f"{args.warm_up:.0f} s warm-up, median of {args.repeat} runs (worst case for counts).",
        "",
        "| figure | target | measured |",
        "|---|---|---|",
        f"| chats accepted per second | 20 | {r['accept_rate']:.1f} |",
        f"| waiting visitors who got position updates | all | {updated}/{judged} |",
        f"| gap between a visitor's updates, p50 / p99 / max | ≥ 1 s apart, about 1 s | "
        f"{r['gap_p50_s']:.2f} s / {r['gap_p99_s']:.2f} s / {worst['gap_max_s']:.2f} s |",
        f"| updates less than 0.9 s after the previous one | 0 | {worst['too_soon']} |",
        f"| positions that went up | 0 | {worst['increases']} |",
        f"| event-loop lag p99 | < 100 ms | ≤ {r['lag_p99_ms']:.0f} ms |",
        f"| visitor sockets failed | 0 | {worst['failures']} |",
    ]
    text = "\n".join(lines)
    print(text)
    print(json.dumps(runs), file=sys.stderr)
    if not args.no_write:
        write_section("queue", text)


if __name__ == "__main__":
    main()
