"""The operator dashboard: one HTML shell for every /dashboard route; the ES modules do the rest."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
SHELL = Path(__file__).parent / "templates" / "dashboard.html"


def _shell() -> HTMLResponse:
    # The shell is tiny and names its modules without versions: always revalidate.
    return HTMLResponse(SHELL.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    """The dashboard's entry page (login, console, tickets, admin)."""
    return _shell()


@router.get("/dashboard/{path:path}", response_class=HTMLResponse)
async def dashboard_path(path: str) -> HTMLResponse:
    """Deep links (`/dashboard/tickets/LDN-000001`) get the same shell; the client routes."""
    return _shell()
