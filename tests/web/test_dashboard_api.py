"""The dashboard's HTML shell and its small read API, in-process."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.operators.helpers import PASSWORD, make_operator

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


async def login(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


@sqlite_only
async def test_every_dashboard_path_gets_the_shell_under_a_strict_csp(client: httpx.AsyncClient) -> None:
    for path in ("/dashboard", "/dashboard/", "/dashboard/tickets/LDN-000001", "/dashboard/admin"):
        r = await client.get(path)
        assert r.status_code == 200
        assert '<script type="module" src="/static/dashboard/app.js">' in r.text
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "<script>" not in r.text  # no inline script
    assert (await client.get("/static/dashboard/app.js")).status_code == 200


@sqlite_only
async def test_session_gives_the_cookie_sessions_csrf_token(client: httpx.AsyncClient) -> None:
    await make_operator(client.app.state.runtime, "sara@example.com", name="Sara")  # type: ignore[attr-defined]
    assert (await client.get("/api/v1/dashboard/session")).status_code == 401
    login_body = await login(client, "sara@example.com")
    r = await client.get("/api/v1/dashboard/session")  # by cookie
    assert r.status_code == 200
    assert r.json()["csrf_token"] == login_body["csrf_token"]
    assert r.json()["operator"]["name"] == "Sara"
    assert r.json()["settings"]["queue_wait_seconds"] > 0
    # The token works for a state-changing request by cookie; without it, 403.
    assert (await client.put("/api/v1/operator/presence", json={"status": "away"})).status_code == 403
    r = await client.put(
        "/api/v1/operator/presence", json={"status": "away"}, headers={"X-CSRF-Token": login_body["csrf_token"]}
    )
    assert r.status_code == 200


@sqlite_only
async def test_colleagues_and_ticket_messages_follow_access_rules(client: httpx.AsyncClient) -> None:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    await make_operator(rt, "sara@example.com", name="Sara")
    await make_operator(rt, "teo@example.com", name="Teo", tier=1)
    sara = await login(client, "sara@example.com")
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {sara['token']}"}
    names = [c["name"] for c in (await client.get("/api/v1/dashboard/colleagues", headers=bearer)).json()]
    assert names == ["Sara", "Teo"]
    r = await client.post(
        "/api/v1/tickets", headers=bearer,
        json={"contact_method": "email", "email": "anna@example.com", "subject": "Rimborso", "assignee_id": sara["operator"]["id"]},
    )
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    r = await client.get(f"/api/v1/dashboard/tickets/{number}/messages", headers=bearer)
    assert r.status_code == 200 and isinstance(r.json(), list)
    assert (await client.get("/api/v1/dashboard/tickets/LDN-999999/messages", headers=bearer)).status_code == 404
    r = await client.get("/api/v1/dashboard/conversations/00000000-0000-0000-0000-000000000000", headers=bearer)
    assert r.status_code == 404
