"""Shared FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.requests import HTTPConnection

from sportello.runtime import Runtime


async def get_runtime(conn: HTTPConnection) -> Runtime:
    """The process's Runtime.

    This module's dependencies are `async def` although they never await: FastAPI runs a plain
    `def` dependency in its thread pool, a hop to a worker thread and back on every request (4% of
    the samples of a burst of new visitors, for returning an attribute).
    """
    rt: Runtime = conn.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def bearer_token(
    authorization: Annotated[str | None, Header(description="`Bearer <token>`")] = None,
) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


BearerToken = Annotated[str | None, Depends(bearer_token)]


def preferred_language(request: Request, supported: list[str], default: str) -> str:
    """The first supported language of the Accept-Language header, else `default`."""
    header = request.headers.get("accept-language", "")
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = tag.strip().lower()[:2]
        if lang in supported and quality > 0:
            ranked.append((-quality, index, lang))
    return sorted(ranked)[0][2] if ranked else default
