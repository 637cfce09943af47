"""`GET /widget.js`: the script shops embed."""

from __future__ import annotations

import gzip

import httpx
import pytest

from sportello.web.pages import WIDGET


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_widget_script_is_served_cacheable_and_small(client: httpx.AsyncClient) -> None:
    response = await client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "max-age=" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == WIDGET.read_bytes()
    etag = response.headers["etag"]
    again = await client.get("/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    # The budget in docs/widget.md: under 25 KB gzipped.
    assert len(gzip.compress(response.content, 9)) < 25_000


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_demo_shop_embeds_the_widget(client: httpx.AsyncClient) -> None:
    html = (await client.get("/")).text
    assert '<script src="/widget.js"' in html and "async" in html
