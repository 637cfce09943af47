"""Scenarios 3 and 4 of the performance issue: idle socket capacity, and a burst of new visitors.

`python -m bench.capacity [--quick]`: a Sportello process on SQLite, driven by a separate load
process (bench/load_capacity.py); writes the `capacity` section of docs/benchmarks.md.
`--only burst --no-write [--visitors N] [--assistant lexical]` runs just the burst and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    ROOT,
    free_port,
    machine,
    median,
    now_stamp,
    sportello_server,
    write_section,
)

HERE = Path(__file__).resolve().parent
SHARED = ROOT.parent / "shared" / "eval" / "lucine"


def env_for(data_dir: str, semantic: bool) -> dict[str, str]:
    env = {
        "SPORTELLO_DATA_DIR": data_dir,
        "SPORTELLO_SECRET_KEY": uuid.uuid4().hex,
        "SPORTELLO_LOG_LEVEL": "warning",
        "SPORTELLO_ASSISTANT_SEMANTIC": "true" if semantic else "false",
        "SPORTELLO_LIMIT_CONVERSATIONS_PER_ADDRESS_HOUR": "0",
        "SPORTELLO_LIMIT_MESSAGES_PER_CONVERSATION_MINUTE": "0",
        "SPORTELLO_LIMIT_WS_FRAMES_PER_SECOND": "0",
    }
    full = {**os.environ, **env}
    subprocess.run([sys.executable, "-m", "sportello", "migrate"], env=full, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "sportello", "kb", "import", str(SHARED / "kb.yaml")], env=full, check=True, capture_output=True)
    return env


async def _conversations(env: dict[str, str], n: int) -> list[tuple[str, str]]:
    from sportello.config import Settings
    from sportello.conversations.schemas import ConversationCreate
    from sportello.conversations.service import create_conversation
    from sportello.runtime import Runtime

    rt = Runtime(Settings(_env_file=None, data_dir=Path(env["SPORTELLO_DATA_DIR"])))  # type: ignore[call-arg]
    out = []
    async with rt.db.scope() as session:
        for _ in range(n):
            conv, token = await create_conversation(session, ConversationCreate(), language="it", user_agent="bench")
            out.append((str(conv.id), token))
    await rt.db.dispose()
    return out


def lag_histogram(port: int) -> dict[float, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    buckets = {}
    for m in re.finditer(r'sportello_event_loop_lag_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)', text):
        buckets[float("inf") if m.group(1) == "+Inf" else float(m.group(1))] = float(m.group(2))
    return buckets


def lag_p99_ms(before: dict[float, float], after: dict[float, float]) -> float:
    """Upper bound of the 99th percentile of loop lag between two scrapes (histogram buckets)."""
    deltas = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = deltas[-1][1]
    for le, count in deltas:
        if total and count >= 0.99 * total:
            return le * 1000
    return float("nan")


def shed_count(port: int) -> float:
    """Questions the server answered without embeddings because the embedder was backed up."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    m = re.search(r"^sportello_assistant_embeddings_shed_total ([0-9.e+]+)", text, re.M)
    return float(m.group(1)) if m else 0.0


def idle_scenario(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir:
        env = env_for(data_dir, semantic=False)
        convs = asyncio.run(_conversations(env, args.sockets))
        port = free_port()
        server = sportello_server(port, env).start()
        try:
            time.sleep(1.0)
            rss_before = server.rss_bytes()
            ready = Path(data_dir) / "ready"
            spec = {"mode": "idle", "urls": [f"ws://127.0.0.1:{port}/ws/conversations/{c}?token={t}" for c, t in convs],
                    "hold": args.hold, "ready_file": str(ready)}
            spec_path = Path(data_dir) / "spec.json"
            spec_path.write_text(json.dumps(spec))
            load = subprocess.Popen([sys.executable, str(HERE / "load_capacity.py"), str(spec_path)], stdout=subprocess.PIPE, text=True)
            while not ready.exists() and load.poll() is None:
                time.sleep(0.2)
            time.sleep(1.0)
            rss_open = server.rss_bytes()
            before = lag_histogram(port)
            out, _ = load.communicate(timeout=args.hold + 300)
            after = lag_histogram(port)
            result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
            result.update(
                rss_before_mb=rss_before / 2**20,
                rss_open_mb=rss_open / 2**20,
                kb_per_socket=(rss_open - rss_before) / 1024 / max(1, result["opened"]),
                lag_p99_ms=lag_p99_ms(before, after),
            )
            return result
        finally:
            server.stop()


def burst_scenario(args: argparse.Namespace, semantic: bool) -> dict[str, Any]:
    questions = [json.loads(x)["q"] for x in (SHARED / "questions.jsonl").read_text().splitlines() if x.strip()]
    questions = [q for q in questions]
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as data_dir:
            env = env_for(data_dir, semantic=semantic)
            port = free_port()
            server = sportello_server(port, env).start()
            try:
                # Wait until the assistant is built (the first visitor should not pay for it).
                conv = httpx.post(f"http://127.0.0.1:{port}/api/v1/conversations", json={}).json()
                httpx.post(f"http://127.0.0.1:{port}/api/v1/conversations/{conv['id']}/messages",
                           json={"body": "ciao"}, headers={"Authorization": f"Bearer {conv['token']}"})
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    msgs = httpx.get(f"http://127.0.0.1:{port}/api/v1/conversations/{conv['id']}/messages",
                                     headers={"Authorization": f"Bearer {conv['token']}"}).json()
                    if len(msgs) >= 2:
                        break
                    time.sleep(0.2)
                before = lag_histogram(port)
                cpu_before = server.cpu_seconds()
                spec = {"mode": "burst", "base": f"http://127.0.0.1:{port}", "visitors": args.visitors,
                        "seconds": args.burst_seconds, "questions": questions}
                with server.sampled(f"burst-{'semantic' if semantic else 'lexical'}-{len(runs)}"):
                    out = subprocess.run([sys.executable, str(HERE / "load_capacity.py"), json.dumps(spec)],
                                         capture_output=True, text=True, timeout=600)
                if out.returncode != 0:
                    raise RuntimeError(f"burst load process failed ({out.returncode}):\n{out.stderr[-4000:]}")
                r: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
                r["lag_p99_ms"] = lag_p99_ms(before, lag_histogram(port))
                r["cpu_ms_per_visitor"] = (server.cpu_seconds() - cpu_before) * 1000 / args.visitors
                r["shed"] = shed_count(port)
                runs.append(r)
            finally:
                server.stop()
    return {
        "answered": min(r["answered"] for r in runs),
        "errors": max(r["errors"] for r in runs),
        "error_kinds": sorted({k for r in runs for k in r["error_kinds"]}),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "lag_p99_ms": median([r["lag_p99_ms"] for r in runs]),
        "cpu_ms_per_visitor": median([r["cpu_ms_per_visitor"] for r in runs]),
        "shed": median([r["shed"] for r in runs]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["burst"], help="run only this scenario (implies --no-write)")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/benchmarks.md alone")
    parser.add_argument("--visitors", type=int, help="burst visitors (default 2000, 200 with --quick)")
    parser.add_argument("--repeat", type=int, help="burst runs per assistant mode (default 2, 1 with --quick)")
    parser.add_argument("--assistant", choices=["lexical", "semantic", "both"], default="both")
    args = parser.parse_args()
    args.sockets = 1000 if args.quick else 10_000
    args.hold = 10.0 if args.quick else 30.0
    args.visitors = args.visitors or (200 if args.quick else 2000)
    args.burst_seconds = 10.0
    args.repeat = args.repeat or (1 if args.quick else 2)
    if args.only == "burst":
        for name, semantic in (("lexical", False), ("lexical + embeddings", True)):
            if args.assistant in ("both", "semantic" if semantic else "lexical"):
                print(name, json.dumps(burst_scenario(args, semantic=semantic)), flush=True)
        return
    idle = idle_scenario(args)
    lexical = burst_scenario(args, semantic=False)
    blended = burst_scenario(args, semantic=True)
    lines = [
        "## Capacity: idle sockets and a burst of visitors",
        "",
        f"Taken {now_stamp()} on {machine()}. Command: `make bench-capacity` "
        f"(`python -m bench.capacity{' --quick' if args.quick else ''}`); Sportello on SQLite, one process; "
        "the load runs in a separate process on 127.0.0.1.",
        "",
        f"**Idle sockets.** {idle['opened']} widget sockets opened ({idle['failures']} failed) in "
        f"{idle['open_seconds']:.1f} s and held {args.hold:.0f} s with a heartbeat frame every 10 s: "
        f"resident memory {idle['rss_before_mb']:.0f} MB → {idle['rss_open_mb']:.0f} MB, "
        f"**{idle['kb_per_socket']:.1f} KB per socket**; event-loop lag p99 ≤ {idle['lag_p99_ms']:.0f} ms "
        "(upper bound from the `sportello_event_loop_lag_seconds` histogram).",
        "",
        f"**Burst.** {args.visitors} visitors arrive evenly within {args.burst_seconds:.0f} s; each opens a "
        "conversation (REST), connects its socket and asks one question from the shared Lucine set; "
        f"latency is from the question's send to the assistant's answer on the socket. Median of {args.repeat} runs.",
        "",
        "| assistant | answered | errors | p50 | p99 | loop lag p99 |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in (("lexical", lexical), ("lexical + embeddings (default)", blended)):
        lines.append(
            f"| {name} | {r['answered']}/{args.visitors} | {r['errors']} {' '.join(r['error_kinds'])} | "
            f"{r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | ≤ {r['lag_p99_ms']:.0f} ms |"
        )
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("capacity", text)


if __name__ == "__main__":
    main()
