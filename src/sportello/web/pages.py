"""Server-rendered pages: the demo shop."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"


@router.get("/", response_class=HTMLResponse)
async def demo_shop() -> HTMLResponse:
    """A fictional Lucine di Natale shop page that embeds the chat widget."""
    return HTMLResponse((TEMPLATES / "demo_shop.html").read_text(encoding="utf-8"))
