"""Load generator, run in its own process: `python bench/load.py SPEC_JSON` prints a JSON result.

SPEC: {"mode": "throughput"|"latency", "kind": "relay"|"sportello", "port": int,
       "pairs": [[sender_url, receiver_url], ...], "seconds": float, "window": int, "rate": float}
A receiver URL may appear in several pairs (one operator socket, many chats); it is opened once.
Throughput is closed-loop (each sender keeps `window` messages in flight); latency is open-loop
(sends are scheduled at a fixed total `rate` and latency is measured from the scheduled time, so a
stalled server cannot hide its queueing delay).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


def frame_for(kind: str, token: str) -> str:
    if kind == "relay":
        return token
    return json.dumps({"type": "message", "body": token, "client_message_id": token})


def token_of(kind: str, raw: str | bytes) -> str | None:
    if kind == "relay":
        return raw if isinstance(raw, str) else raw.decode()
    data = json.loads(raw)
    if data.get("type") != "message":
        return None
    body: str = data["message"]["body"]
    return body


async def _open(url: str) -> ClientConnection:
    ws = await connect(url, max_size=2**20, compression=None, open_timeout=30, ping_interval=None)
    return ws


async def _ready(kind: str, ws: ClientConnection) -> None:
    if kind == "sportello":
        while json.loads(await ws.recv()).get("type") != "ready":
            pass


async def _drain(ws: ClientConnection) -> None:
    try:
        async for _ in ws:
            pass
    except Exception:
        pass


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec["kind"]
    pairs = spec["pairs"]
    senders: list[ClientConnection] = []
    # Several senders may share one receiver (an operator socket holds many chats): each
    # distinct receiver URL is opened once.
    by_url: dict[str, ClientConnection] = {}
    for s_url, r_url in pairs:
        if r_url not in by_url:
            by_url[r_url] = await _open(r_url)
            await _ready(kind, by_url[r_url])
        s = await _open(s_url)
        await _ready(kind, s)
        senders.append(s)
    receivers = list(by_url.values())
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    received = 0
    errors = 0
    stop = asyncio.Event()
    inflight = [asyncio.Semaphore(spec.get("window", 8)) for _ in pairs]

    async def receive(ws: ClientConnection) -> None:
        nonlocal received
        try:
            async for raw in ws:
                token = token_of(kind, raw)
                if token is None or token not in sent_at:
                    continue
                latencies.append(time.perf_counter() - sent_at.pop(token))
                received += 1
                if spec["mode"] == "throughput":
                    inflight[int(token[1:].split("-", 1)[0])].release()
        except Exception:
            pass

    drains = [asyncio.create_task(_drain(s)) for s in senders] if kind == "sportello" else []
    readers = [asyncio.create_task(receive(r)) for r in receivers]

    async def closed_loop(i: int, ws: ClientConnection) -> None:
        nonlocal errors
        n = 0
        while not stop.is_set():
            await inflight[i].acquire()
            token = f"p{i}-{n}"
            n += 1
            sent_at[token] = time.perf_counter()
            try:
                await ws.send(frame_for(kind, token))
            except Exception:
                errors += 1
                return

    async def open_loop() -> None:
        nonlocal errors
        rate = float(spec["rate"])
        start = time.perf_counter()
        n = 0
        while not stop.is_set():
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            i = n % len(senders)
            token = f"p{i}-{n}"
            sent_at[token] = due
            try:
                await senders[i].send(frame_for(kind, token))
            except Exception:
                errors += 1
            n += 1

    start = time.perf_counter()
    if spec["mode"] == "throughput":
        workers = [asyncio.create_task(closed_loop(i, s)) for i, s in enumerate(senders)]
    else:
        workers = [asyncio.create_task(open_loop())]
    await asyncio.sleep(spec["seconds"])
    stop.set()
    elapsed = time.perf_counter() - start
    counted = received
    for w in workers:
        w.cancel()
    await asyncio.sleep(min(2.0, spec.get("grace", 1.0)))
    lost = len(sent_at)
    for ws in senders + receivers:
        await ws.close()
    for t in readers + drains:
        t.cancel()
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))] * 1000 if latencies else float("nan")

    return {
        "messages_per_second": counted / elapsed,
        "received": received,
        "unanswered": lost,
        "errors": errors,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
    }


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))))
