"""Operations: Prometheus metrics, health, and logs that carry no personal data."""

from __future__ import annotations

import json
import logging

import httpx

from sportello.logs import JsonFormatter, scrub
from tests.fixtures.clients import VisitorSocket, auth, open_conversation
from tests.fixtures.servers import ProcessServer


async def test_metrics_expose_the_series(client: httpx.AsyncClient) -> None:
    conv = await open_conversation(client)
    await client.post(f"/api/v1/conversations/{conv['id']}/messages", json={"body": "ciao"}, headers=auth(conv["token"]))
    text = (await client.get("/metrics")).text
    for series in (
        "sportello_http_request_duration_seconds_bucket",
        "sportello_open_sockets",
        "sportello_messages_total",
        "sportello_message_delivery_seconds_bucket",
        "sportello_queue_length",
        "sportello_online_operators",
        "sportello_outbox_backlog",
        "sportello_outbox_oldest_age_seconds",
        "sportello_ticker_lag_seconds",
    ):
        assert series in text, series
    assert 'sportello_messages_total{sender="visitor"} 1.0' in text
    assert 'route="/api/v1/conversations/{conversation_id}/messages"' in text
    assert conv["id"] not in text


def test_scrub_and_formatter_drop_personal_data() -> None:
    assert scrub("write to mario.rossi@example.com or +39 333 123 4567") == "write to [email] or [phone]"
    assert "abc123" not in scrub("GET /ws/conversations/x?token=abc123&after=2")
    assert "s3cret" not in scrub("Authorization: Bearer s3cret")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "visitor %s", ("a@b.it",), None)
    record.body = "my secret message"
    record.conversation_id = "c-1"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "visitor [email]" and "body" not in entry and entry["conversation_id"] == "c-1"


async def test_logs_of_an_end_to_end_run_hold_no_personal_data(process_server_factory: type) -> None:
    server: ProcessServer = process_server_factory.start(SPORTELLO_LOG_LEVEL="debug")
    email, phone, body = "giulia.bianchi@example.org", "+39 347 765 4321", "messaggio riservatissimo"
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        conv = (await http.post("/api/v1/conversations", json={})).json()
        url = f"/api/v1/conversations/{conv['id']}/messages"
        await http.post(url, json={"body": f"{body} {email} {phone}"}, headers=auth(conv["token"]))
        await http.post(url, json={"body": "x" * 5000}, headers=auth(conv["token"]))
        await http.get(url, headers=auth("wrong-token"))
        sock = await VisitorSocket.connect(server.ws_url, conv["id"], conv["token"])
        await sock.send({"type": "message", "body": f"{body} 2 {email}"})
        await sock.send("not json")
        await sock.until(lambda f: f["type"] == "error")
        await sock.close()
    server.stop()
    log = server.log_path.read_text()
    assert log.strip(), "the server wrote no log at all"
    for line in log.splitlines():
        if line.startswith("{"):
            json.loads(line)
    for secret in (email, phone, body, conv["token"], "x" * 100):
        assert secret not in log, f"{secret[:20]}... leaked into the log"
