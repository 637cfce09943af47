"""Load process for the long-queue scenario: `python bench/load_queue.py SPEC.json` prints JSON.

SPEC: {"visitors": [ws_url, ...], "operators": [ws_url, ...], "rate": chats/s, "hold": s,
       "seconds": s, "ready_file": path}
Opens every visitor socket (they are already waiting in the queue), writes `ready_file`, then
connects the operators. Operators accept offers as they come, at most `rate` per second in
total, and end each chat `hold` seconds after accepting it, so the queue moves at `rate`.
Every `queue.position_changed` frame a visitor receives is recorded with its arrival time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


class Bucket:
    """A token bucket: `take` returns when the next of `rate` tokens per second is due."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_at = time.monotonic()

    async def take(self) -> None:
        now = time.monotonic()
        self.next_at = max(self.next_at + self.interval, now)
        delay = self.next_at - now
        if delay > 0:
            await asyncio.sleep(delay)


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    updates: list[list[tuple[float, int]]] = [[] for _ in spec["visitors"]]
    served_at: list[float | None] = [None] * len(spec["visitors"])
    sockets: list[ClientConnection] = []
    failures = 0
    gate = asyncio.Semaphore(100)
    stop = asyncio.Event()
    all_open = asyncio.Event()

    def opened_one() -> None:
        if len(sockets) + failures >= len(spec["visitors"]):
            all_open.set()

    async def visitor(i: int, url: str) -> None:
        nonlocal failures
        try:
            async with gate:
                ws = await connect(url, compression=None, open_timeout=120, ping_interval=None, max_size=2**20)
                while json.loads(await ws.recv()).get("type") != "ready":
                    pass
            sockets.append(ws)
            opened_one()
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "queue.position_changed" and served_at[i] is None:
                    updates[i].append((time.monotonic(), int(frame["position"])))
                elif kind == "conversation.status_changed" and frame.get("status") in ("assigned", "live"):
                    served_at[i] = served_at[i] or time.monotonic()
        except Exception:
            if not stop.is_set():
                failures += 1
                opened_one()

    tasks = [asyncio.create_task(visitor(i, u)) for i, u in enumerate(spec["visitors"])]
    opened_at = time.monotonic()
    await all_open.wait()
    open_seconds = time.monotonic() - opened_at
    Path(spec["ready_file"]).write_text(str(len(sockets)))

    bucket = Bucket(spec["rate"])
    accepted: list[float] = []
    errors: list[str] = []

    async def operator(url: str) -> None:
        ws = await connect(url, compression=None, open_timeout=60, ping_interval=None, max_size=2**22)

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(5)
                await ws.send('{"type":"heartbeat"}')

        async def take(conv_id: str) -> None:
            await bucket.take()
            await ws.send(json.dumps({"type": "accept", "conversation_id": conv_id}))

        async def finish(conv_id: str) -> None:
            await asyncio.sleep(spec["hold"])
            await ws.send(json.dumps({"type": "end", "conversation_id": conv_id}))

        beat = asyncio.create_task(heartbeat())
        pending: set[asyncio.Task[None]] = set()
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "offer.created":
                    task = asyncio.create_task(take(frame["conversation_id"]))
                elif kind == "accept.ack":
                    accepted.append(time.monotonic())
                    task = asyncio.create_task(finish(frame["conversation_id"]))
                elif kind == "error":
                    errors.append(str(frame.get("code")))
                    continue
                else:
                    continue
                pending.add(task)
                task.add_done_callback(pending.discard)
        except Exception:
            pass
        finally:
            beat.cancel()
            for task in list(pending):
                task.cancel()

    started = time.monotonic()
    operators = [asyncio.create_task(operator(u)) for u in spec["operators"]]
    await asyncio.sleep(spec["seconds"])
    ended = time.monotonic()
    stop.set()
    for task in operators + tasks:
        task.cancel()
    await asyncio.gather(*operators, *tasks, return_exceptions=True)
    for ws in sockets:
        try:
            await asyncio.wait_for(ws.close(), 1)
        except Exception:
            pass

    # Judge the steady state: skip the first seconds while operators log on and fill up.
    warm = started + spec.get("warm_up", 5.0)
    gaps: list[float] = []
    increases = 0
    too_soon = 0
    got_update = 0
    waited = 0
    for i, seen in enumerate(updates):
        window_end = served_at[i] or ended
        if window_end - warm < 3.0:
            continue  # served almost at once: nothing to judge
        waited += 1
        in_window = [(t, p) for t, p in seen if t >= warm]
        if in_window:
            got_update += 1
        for (t0, p0), (t1, p1) in itertools.pairwise(seen):
            if p1 > p0:
                increases += 1
            if t1 - t0 < 0.9:
                too_soon += 1
            if t1 >= warm:
                gaps.append(t1 - t0)
    gaps.sort()
    in_steady = [t for t in accepted if t >= warm]

    def pct(q: float) -> float:
        return gaps[min(len(gaps) - 1, int(q / 100 * len(gaps)))] if gaps else float("nan")

    return {
        "opened": len(sockets),
        "failures": failures,
        "open_seconds": open_seconds,
        "accepted": len(accepted),
        "accept_rate": len(in_steady) / max(0.001, ended - warm),
        "served": sum(1 for s in served_at if s is not None),
        "visitors_judged": waited,
        "visitors_updated": got_update,
        "updates": sum(len(u) for u in updates),
        "gap_p50_s": pct(50),
        "gap_p99_s": pct(99),
        "gap_max_s": gaps[-1] if gaps else float("nan"),
        "too_soon": too_soon,
        "increases": increases,
        "errors": errors[:20],
    }


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(json.loads(Path(sys.argv[1]).read_text())))))
