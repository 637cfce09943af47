"""The bare relay: the `websockets` library alone, visitor socket → server → peer socket, no storage.

Run as `python bench/relay.py PORT`. A socket connects to `/ROOM/ROLE` (role `visitor` or
`peer`); every text frame from a visitor is forwarded to the room's peers unchanged.
"""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict

from websockets.asyncio.server import ServerConnection, serve

peers: dict[str, set[ServerConnection]] = defaultdict(set)


async def handler(ws: ServerConnection) -> None:
    _, room, role = ws.request.path.split("/", 2) if ws.request else ("", "", "")
    if role == "peer":
        peers[room].add(ws)
        try:
            await ws.wait_closed()
        finally:
            peers[room].discard(ws)
        return
    async for frame in ws:
        for peer in list(peers.get(room, ())):
            await peer.send(frame)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, max_size=2**16, ping_interval=20, compression=None):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1])))
