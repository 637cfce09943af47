"""create_app(): lifespan, middleware, routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from sportello import __version__, ticker
from sportello.analytics import gauges as analytics_gauges
from sportello.analytics.api import router as reports_router
from sportello.assistant import service as assistant_service
from sportello.config import Settings, get_settings
from sportello.conversations import contact as contact_collection
from sportello.conversations.api import router as conversations_router
from sportello.errors import install_error_handlers
from sportello.events import RedisBus
from sportello.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from sportello.metrics import RequestMetrics
from sportello.middleware import BodySizeLimit, SecurityHeaders
from sportello.notifications import install as install_notifications
from sportello.notifications import worker as notifications_worker
from sportello.notifications.api import router as notifications_router
from sportello.operators.api import auth_router as operator_auth_router
from sportello.operators.api import me_router as operator_me_router
from sportello.operators.api import router as operators_router
from sportello.privacy.api import router as privacy_router
from sportello.queue.api import router as queue_router
from sportello.realtime.operator_ws import router as operator_ws_router
from sportello.realtime.visitor_ws import router as visitor_ws_router
from sportello.runtime import Runtime
from sportello.tickets.api import contact_router as ticket_contact_router
from sportello.tickets.api import router as tickets_router
from sportello.tickets.api import vip_router as ticket_vip_router
from sportello.web.dashboard import router as dashboard_router
from sportello.web.dashboard_api import router as dashboard_api_router
from sportello.web.pages import router as pages_router

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent / "web"


async def stop_loop(task: asyncio.Task[None], attempts: int = 20) -> None:
    """Cancel an endless loop and wait for it; cancel again if a cancellation was swallowed.

    A cancellation that lands while a library call is completing can be lost (asyncio.wait_for
    on Python 3.11), and an awaited loop would then keep the shutdown waiting for ever.
    """
    for _ in range(attempts):
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.5)
        if done:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
            return
    log.error("background loop %s did not stop", task.get_name())


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime(settings)
        assistant_service.install(rt)
        contact_collection.install(rt)
        analytics_gauges.install(rt)
        app.state.runtime = rt
        await rt.start()
        rt.spawn(assistant_service.warm_up(rt), name="assistant-warm-up")
        install_notifications(rt)
        outbox_task = (
            asyncio.create_task(notifications_worker.run(rt), name="outbox-worker")
            if settings.outbox_worker_enabled
            else None
        )
        ticker_task = asyncio.create_task(ticker.run(rt), name="ticker") if settings.ticker_enabled else None
        try:
            yield
        finally:
            for task in (outbox_task, ticker_task):
                if task is not None:
                    await stop_loop(task)
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
    app.add_middleware(RequestMetrics)
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
    app.include_router(operator_auth_router)
    app.include_router(operator_me_router)
    app.include_router(operators_router)
    app.include_router(queue_router)
    app.include_router(operator_ws_router)
    app.include_router(pages_router)
    app.include_router(dashboard_router)
    app.include_router(dashboard_api_router)
    app.include_router(notifications_router)
    app.include_router(tickets_router)
    app.include_router(ticket_vip_router)
    app.include_router(ticket_contact_router)
    app.include_router(reports_router)
    app.include_router(privacy_router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics of this process (keep it off the public internet)."""
        rt: Runtime = app.state.runtime
        return Response(await rt.metrics.render(rt), media_type=METRICS_CONTENT_TYPE)

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


