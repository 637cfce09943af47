"""The widget REST API, in process and through a real server."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fixtures.clients import auth, open_conversation
from tests.fixtures.servers import ThreadServer


async def test_create_and_post_message(client: httpx.AsyncClient) -> None:
    conv = await open_conversation(client, page_url="https://shop.example/biglietti")
    assert conv["status"] == "bot"
    assert conv["language"] == "it"
    assert len(conv["token"]) >= 32

    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        json={"body": "Ciao, a che ora aprite?", "client_message_id": "c-1"},
        headers=auth(conv["token"]),
    )
    assert r.status_code == 201
    msg = r.json()
    assert msg["seq"] == 1 and msg["sender"] == "visitor" and msg["body"] == "Ciao, a che ora aprite?"

    state = await client.get(f"/api/v1/conversations/{conv['id']}", headers=auth(conv["token"]))
    assert state.status_code == 200 and state.json()["last_seq"] == 1


async def test_language_from_accept_language(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/conversations", headers={"Accept-Language": "en-GB,en;q=0.9,it;q=0.5"})
    assert r.json()["language"] == "en"
    r = await client.post("/api/v1/conversations", json={"language": "it"}, headers={"Accept-Language": "en"})
    assert r.json()["language"] == "it"
    r = await client.post("/api/v1/conversations", json={"language": "klingon"})
    assert r.status_code == 422 and "language must be one of" in r.json()["message"]


async def test_retry_with_same_client_message_id_stores_once(client: httpx.AsyncClient) -> None:
    conv = await open_conversation(client)
    url = f"/api/v1/conversations/{conv['id']}/messages"
    body = {"body": "parcheggio?", "client_message_id": "retry-1"}
    first = await client.post(url, json=body, headers=auth(conv["token"]))
    again = await client.post(url, json=body, headers=auth(conv["token"]))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    listed = await client.get(url, headers=auth(conv["token"]))
    assert [m["client_message_id"] for m in listed.json()] == ["retry-1"]


async def test_concurrent_retries_store_one_message(client: httpx.AsyncClient) -> None:
    conv = await open_conversation(client)
    url = f"/api/v1/conversations/{conv['id']}/messages"
    body = {"body": "doppio?", "client_message_id": "same"}
    results = await asyncio.gather(*[client.post(url, json=body, headers=auth(conv["token"])) for _ in range(8)])
    assert sorted(r.status_code for r in results) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in results}) == 1


async def test_messages_after(client: httpx.AsyncClient) -> None:
    conv = await open_conversation(client)
    url = f"/api/v1/conversations/{conv['id']}/messages"
    for i in range(5):
        await client.post(url, json={"body": f"m{i}"}, headers=auth(conv["token"]))
    r = await client.get(url, params={"after": 2}, headers=auth(conv["token"]))
    assert [m["seq"] for m in r.json()] == [3, 4, 5]
    assert [m["body"] for m in r.json()] == ["m2", "m3", "m4"]
    r = await client.get(url, params={"after": -1}, headers=auth(conv["token"]))
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({}, 422, "body: Field required"),
        ({"body": ""}, 422, "at least 1 character"),
        ({"body": "   "}, 422, "must not be blank"),
        ({"body": "x" * 4001}, 422, "the maximum is 4000"),
        ({"body": "ok", "client_message_id": "with space"}, 422, "client_message_id"),
        ({"body": "ok", "extra": 1}, 422, "extra: Extra inputs are not permitted"),
        ({"body": 12}, 422, "body: Input should be a valid string"),
    ],
)
async def test_bad_message_bodies(
    client: httpx.AsyncClient, payload: dict[str, object], status: int, fragment: str
) -> None:
    conv = await open_conversation(client)
    r = await client.post(
        f"/api/v1/conversations/{conv['id']}/messages", json=payload, headers=auth(conv["token"])
    )
    assert r.status_code == status
    assert fragment in r.json()["message"]
    listed = await client.get(f"/api/v1/conversations/{conv['id']}/messages", headers=auth(conv["token"]))
    assert listed.json() == []


async def test_bad_json_and_huge_body(client: httpx.AsyncClient) -> None:
    conv = await open_conversation(client)
    url = f"/api/v1/conversations/{conv['id']}/messages"
    headers = {**auth(conv["token"]), "content-type": "application/json"}
    r = await client.post(url, content=b"{not json", headers=headers)
    assert r.status_code == 422 and "JSON" in r.json()["message"]
    r = await client.post(url, content=b'{"body": "' + b"x" * 1_000_000 + b'"}', headers=headers)
    assert r.status_code == 413 and "limit" in r.json()["message"]
    ok = await client.post(url, json={"body": "still here"}, headers=auth(conv["token"]))
    assert ok.status_code == 201


async def test_wrong_token_and_unknown_conversation_are_the_same_404(client: httpx.AsyncClient) -> None:
    conv = await open_conversation(client)
    other = await open_conversation(client)
    cases = [
        (conv["id"], other["token"]),
        (conv["id"], None),
        ("00000000-0000-0000-0000-000000000000", conv["token"]),
        ("not-a-uuid", conv["token"]),
    ]
    bodies = set()
    for conv_id, token in cases:
        headers = auth(token) if token else {}
        r = await client.get(f"/api/v1/conversations/{conv_id}/messages", headers=headers)
        assert r.status_code == 404
        bodies.add(r.text)
        r = await client.post(f"/api/v1/conversations/{conv_id}/messages", json={"body": "x"}, headers=headers)
        assert r.status_code == 404
    assert len(bodies) == 1


async def test_openapi_documents_the_widget_api(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/api/v1/conversations" in schema["paths"]
    post = schema["paths"]["/api/v1/conversations/{conversation_id}/messages"]["post"]
    assert {"201", "200", "404", "413", "422"} <= set(post["responses"])


async def test_demo_page_and_health(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "Lucine di Natale" in page.text
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


def test_real_server_round_trip(live: ThreadServer) -> None:
    with httpx.Client(base_url=live.base_url) as http:
        conv = http.post("/api/v1/conversations", json={}).json()
        url = f"/api/v1/conversations/{conv['id']}/messages"
        r = http.post(url, json={"body": "hello", "client_message_id": "a"}, headers=auth(conv["token"]))
        assert r.status_code == 201
        r = http.post(url, content=b"x" * 1_000_000, headers={**auth(conv["token"]), "content-type": "application/json"})
        assert r.status_code == 413
        r = http.post(url, json={"body": "hello", "client_message_id": "a"}, headers=auth(conv["token"]))
        assert r.status_code == 200
        assert [m["body"] for m in http.get(url, headers=auth(conv["token"])).json()] == ["hello"]
