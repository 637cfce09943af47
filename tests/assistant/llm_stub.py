"""A local OpenAI-compatible chat stub on 127.0.0.1 that records the requests it receives."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LLMStub:
    """mode: "ok" (reply with `content`), "error" (HTTP 500) or "slow" (sleep `delay` first)."""

    mode: str = "ok"
    content: str = ""
    delay: float = 2.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.AbstractServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append({"path": lines[0].split()[1], "headers": headers, "json": json.loads(body or b"{}")})
            if self.mode == "slow":
                await asyncio.sleep(self.delay)
            if self.mode == "error":
                status, payload = "500 Internal Server Error", {"error": {"message": "boom"}}
            else:
                status = "200 OK"
                payload = {
                    "choices": [{"message": {"role": "assistant", "content": self.content}}],
                    "usage": {"total_tokens": 120},
                }
            data = json.dumps(payload).encode()
            writer.write(
                f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
                f"connection: close\r\n\r\n".encode() + data
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
