"""create_app(): lifespan, middleware, routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from sportello import __version__
from sportello.assistant import service as assistant_service
from sportello.config import Settings, get_settings
from sportello.conversations.api import router as conversations_router
from sportello.errors import install_error_handlers
from sportello.events import RedisBus
from sportello.middleware import BodySizeLimit, SecurityHeaders
from sportello.realtime.visitor_ws import router as visitor_ws_router
from sportello.runtime import Runtime
from sportello.web.pages import router as pages_router

WEB_DIR = Path(__file__).parent / "web"


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime(settings)
        assistant_service.install(rt)
        app.state.runtime = rt
        await rt.start()
        rt.spawn(assistant_service.warm_up(rt), name="assistant-warm-up")
        try:
            yield
        finally:
            await rt.stop()

    app = FastAPI(
        title="Sportello",
        version=__version__,
        description="Customer-support desk: widget API, operator API and WebSockets.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.request_max_bytes)
    app.add_middleware(SecurityHeaders)
    if settings.widget_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.widget_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.include_router(conversations_router)
    app.include_router(visitor_ws_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """The database (and Redis, when configured) answer."""
        rt: Runtime = app.state.runtime
        checks: dict[str, str] = {}
        try:
            async with rt.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        if isinstance(rt.bus, RedisBus):
            checks["redis"] = "ok" if await rt.bus.ping() else "error"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503)

    return app


