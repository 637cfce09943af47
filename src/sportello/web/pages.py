"""Server-rendered pages: the demo shop, and the widget script shops embed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"
WIDGET = Path(__file__).parent / "static" / "widget.js"

# The script's URL carries no version (it sits in shop themes), so caches revalidate often;
# the ETag makes a revalidation a 304 without a body.
WIDGET_CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=86400"

_widget_cache: tuple[float, bytes, str] | None = None


def widget_source() -> tuple[bytes, str]:
    """The widget script and its ETag, re-read only when the file changes."""
    global _widget_cache
    mtime = WIDGET.stat().st_mtime
    if _widget_cache is None or _widget_cache[0] != mtime:
        body = WIDGET.read_bytes()
        _widget_cache = (mtime, body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return _widget_cache[1], _widget_cache[2]


@router.get("/", response_class=HTMLResponse)
async def demo_shop() -> HTMLResponse:
    """A fictional Lucine di Natale shop page that embeds the chat widget."""
    return HTMLResponse((TEMPLATES / "demo_shop.html").read_text(encoding="utf-8"))


@router.get("/widget.js")
async def widget_js(request: Request) -> Response:
    """The embeddable chat widget, cacheable, loadable from any origin."""
    body, etag = widget_source()
    headers = {
        "Cache-Control": WIDGET_CACHE_CONTROL,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Access-Control-Allow-Origin": "*",
    }
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
