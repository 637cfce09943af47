"""Fixed-window rate limits, shared across processes through Redis when it is configured."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from sportello.errors import TooManyRequests


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    seconds: int


class RateLimiter:
    """Counts hits per (limit, key) in windows of `limit.seconds`; in-process by default."""

    def __init__(self, redis: Any = None, prefix: str = "sportello") -> None:
        self.redis = redis
        self.prefix = prefix
        self._counts: dict[tuple[str, str, int], tuple[int, float]] = {}
        self._last_sweep = 0.0

    async def hit(self, limit: Limit, key: str, now: float | None = None) -> float | None:
        """Count one hit; None when allowed, else the seconds until the window resets."""
        if limit.count <= 0:
            return None
        now = time.time() if now is None else now
        window = int(now // limit.seconds)
        retry_after = (window + 1) * limit.seconds - now
        if self.redis is not None:
            try:
                rkey = f"{self.prefix}:rl:{limit.name}:{key}:{window}"
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.incr(rkey)
                    pipe.expire(rkey, limit.seconds + 1)
                    count = int((await pipe.execute())[0])
                return None if count <= limit.count else retry_after
            except Exception:
                pass  # Redis away: fall back to this process's own counts rather than refuse service
        self._sweep(now)
        ckey = (limit.name, key, window)
        count = self._counts.get(ckey, (0, 0.0))[0] + 1
        self._counts[ckey] = (count, (window + 1) * limit.seconds)
        return None if count <= limit.count else retry_after

    async def check(self, limit: Limit, key: str, message: str) -> None:
        """Count a hit and raise TooManyRequests (429 with Retry-After) past the limit."""
        wait = await self.hit(limit, key)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            raise TooManyRequests(message, headers={"Retry-After": str(seconds)})

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < 30:
            return
        self._last_sweep = now
        self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
