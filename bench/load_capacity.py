"""Load process for the capacity scenarios: `python bench/load_capacity.py SPEC_JSON` prints JSON.

idle:  {"mode": "idle", "urls": [...], "hold": s, "ready_file": path}  opens every socket (waiting
       for `ready`), writes `ready_file`, holds them with a heartbeat every 10 s, reports failures.
burst: {"mode": "burst", "base": "http://...", "visitors": n, "seconds": s, "questions": [...]}
       n visitors arrive evenly over `seconds`; each opens a conversation over REST, connects its
       socket, asks one question and waits for the assistant's answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect


async def idle(spec: dict[str, Any]) -> dict[str, Any]:
    sockets: list[Any] = []
    failures = 0
    gate = asyncio.Semaphore(100)

    async def open_one(url: str) -> None:
        nonlocal failures
        async with gate:
            try:
                ws = await connect(url, compression=None, open_timeout=60, ping_interval=None, max_size=2**16)
                while json.loads(await ws.recv()).get("type") != "ready":
                    pass
                sockets.append(ws)
            except Exception:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(open_one(u) for u in spec["urls"]))
    opened_in = time.perf_counter() - started
    Path(spec["ready_file"]).write_text(str(len(sockets)))
    end = time.monotonic() + spec["hold"]
    pongs_missing = 0
    while time.monotonic() < end:
        await asyncio.sleep(min(10.0, max(0.0, end - time.monotonic())))
        for ws in sockets:
            try:
                await ws.send('{"type":"ping"}')
            except Exception:
                pongs_missing += 1
    alive = 0
    for ws in sockets:
        try:
            await ws.close()
            alive += 1
        except Exception:
            pass
    return {"opened": len(sockets), "failures": failures, "open_seconds": opened_in, "send_failures": pongs_missing, "closed_cleanly": alive}


async def burst(spec: dict[str, Any]) -> dict[str, Any]:
    base = spec["base"]
    ws_base = base.replace("http://", "ws://")
    questions = spec["questions"]
    latencies: list[float] = []
    errors: list[str] = []
    # Idle pooled connections are dropped before uvicorn's 5 s keep-alive timeout closes them
    # server-side, as browsers do; otherwise a request can race the close (httpx ReadError).
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=3.0)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:

        async def visitor(i: int, at: float) -> None:
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            # Where a visitor failed, in its error kind: "create", "connect" (handshake to ready) or "answer".
            phase = "create"
            try:
                conv = (await http.post("/api/v1/conversations", json={})).json()
                phase = "connect"
                async with connect(
                    f"{ws_base}/ws/conversations/{conv['id']}?token={conv['token']}",
                    compression=None, open_timeout=60, ping_interval=None,
                ) as ws:
                    while json.loads(await ws.recv()).get("type") != "ready":
                        pass
                    phase = "answer"
                    asked = time.perf_counter()
                    await ws.send(json.dumps({"type": "message", "body": questions[i % len(questions)], "client_message_id": "q"}))
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                        if frame.get("type") == "message" and frame["message"]["sender"] == "assistant":
                            latencies.append(time.perf_counter() - asked)
                            return
            except Exception as exc:
                errors.append(f"{phase}:{type(exc).__name__}")

        start = time.perf_counter()
        n = spec["visitors"]
        await asyncio.gather(*(visitor(i, start + i * spec["seconds"] / n) for i in range(n)))
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))] * 1000 if latencies else float("nan")

    return {"answered": len(latencies), "errors": len(errors), "error_kinds": sorted(set(errors)), "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": latencies[-1] * 1000 if latencies else float("nan")}


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    spec = json.loads(Path(sys.argv[1]).read_text()) if sys.argv[1].endswith(".json") else json.loads(sys.argv[1])
    result = asyncio.run(idle(spec) if spec["mode"] == "idle" else burst(spec))
    print(json.dumps(result))
