"""The operator dashboard: one HTML shell for every /dashboard route; the ES modules do the rest."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
SHELL = Path(__file__).parent / "templates" / "dashboard.html"
SERVICE_WORKER = Path(__file__).parent / "static" / "dashboard" / "sw.js"


def _shell() -> HTMLResponse:
    # The shell is tiny and names its modules without versions: always revalidate.
    return HTMLResponse(SHELL.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    """The dashboard's entry page (login, console, tickets, admin)."""
    return _shell()


@router.get("/dashboard/sw.js")
async def service_worker() -> Response:
    """The web push service worker, allowed to control every dashboard page (`/dashboard…`)."""
    # A script's default scope is its own folder (`/dashboard/`), which would leave out the
    # entry page `/dashboard` itself: the header allows the wider scope.
    return Response(
        SERVICE_WORKER.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Service-Worker-Allowed": "/dashboard", "Cache-Control": "no-cache"},
    )


@router.get("/dashboard/{path:path}", response_class=HTMLResponse)
async def dashboard_path(path: str) -> HTMLResponse:
    """Deep links (`/dashboard/tickets/LDN-000001`) get the same shell; the client routes."""
    return _shell()
