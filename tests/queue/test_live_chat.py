"""The whole path through real sockets: ask → queue → accept → chat → note → transfer → end → rating."""

from __future__ import annotations

import httpx

from sportello.config import Settings
from tests.fixtures.clients import VisitorSocket, auth, open_conversation
from tests.fixtures.servers import ThreadServer
from tests.operators.helpers import OperatorSocket, bearer, login, make_operator, side_runtime


async def test_visitor_to_operator_and_back(live: ThreadServer, settings: Settings) -> None:
    async with side_runtime(settings) as rt:
        await make_operator(rt, "sara@example.com", name="Sara", max_chats=1)
        await make_operator(rt, "teo@example.com", name="Teo", languages=["it"])
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        sara_token, teo_token = await login(http, "sara@example.com"), await login(http, "teo@example.com")
        http.cookies.clear()
        sara = await OperatorSocket.connect(live.ws_url, sara_token)
        # Sara takes a first chat so that the next visitor has to queue.
        warm = await open_conversation(http, language="it")
        await http.post(f"/api/v1/conversations/{warm['id']}/handoff", headers=auth(warm["token"]))
        offer = await sara.until(lambda f: f["type"] == "offer.created")
        assert offer["conversation_id"] == warm["id"]

        conv = await open_conversation(http, language="it")
        visitor = await VisitorSocket.connect(live.ws_url, conv["id"], conv["token"])
        r = await http.post(f"/api/v1/conversations/{conv['id']}/handoff", headers=auth(conv["token"]))
        assert r.json()["outcome"] == "queued" and r.json()["position"] == 1
        await visitor.until(lambda f: f["type"] == "message" and f["message"]["metadata"].get("kind") == "handoff.queued")
        state = (await http.get(f"/api/v1/conversations/{conv['id']}", headers=auth(conv["token"]))).json()
        assert state["queue"]["position"] == 1 and state["queue"]["estimated_wait_seconds"] is not None

        # Sara ends the first chat; the queued visitor is offered to her and she accepts on the socket.
        await sara.send({"type": "accept", "conversation_id": warm["id"]})
        await sara.until(lambda f: f["type"] == "accept.ack")
        assert (await http.post(f"/api/v1/conversations/{warm['id']}/end", headers=bearer(sara_token))).status_code == 204
        offer = await sara.until(lambda f: f["type"] == "offer.created" and f["conversation_id"] == conv["id"])
        await sara.send({"type": "accept", "conversation_id": conv["id"]})
        await sara.until(lambda f: f["type"] == "chat.assigned" and f["conversation_id"] == conv["id"])
        joined = await visitor.until(lambda f: f["type"] == "message" and f["message"]["metadata"].get("kind") == "chat.joined")
        assert "Sara" in joined["message"]["body"]

        # Messages both ways, typing both ways; Sara's socket replays the visitor's history.
        await visitor.send({"type": "message", "body": "Ciao, ho perso il biglietto", "client_message_id": "v1"})
        got = await sara.until(lambda f: f["type"] == "message" and f["message"]["body"] == "Ciao, ho perso il biglietto")
        assert got["message"]["sender"] == "visitor"
        await visitor.send({"type": "typing"})
        await sara.until(lambda f: f["type"] == "typing" and f["sender"] == "visitor")
        await sara.send({"type": "typing", "conversation_id": conv["id"]})
        await visitor.until(lambda f: f["type"] == "typing" and f.get("sender") == "operator")
        r = await http.post(
            f"/api/v1/conversations/{conv['id']}/messages", json={"body": "Nessun problema, lo ristampo."}, headers=bearer(sara_token)
        )
        assert r.status_code == 201 and r.json()["sender"] == "operator" and r.json()["metadata"]["operator_name"] == "Sara"
        await visitor.until(lambda f: f["type"] == "message" and f["message"]["sender"] == "operator")
        # Teo holds no chat here: 404, and the visitor's token still sends as the visitor.
        r = await http.post(f"/api/v1/conversations/{conv['id']}/messages", json={"body": "x"}, headers=bearer(teo_token))
        assert r.status_code == 404

        # An internal note reaches Sara's socket, never the visitor's socket or message list.
        await sara.send({"type": "note", "conversation_id": conv["id"], "body": "cliente VIP, rimborso ok"})
        note = await sara.until(lambda f: f["type"] == "note.created")
        assert note["internal"] is True
        listed = (await http.get(f"/api/v1/conversations/{conv['id']}/messages", headers=auth(conv["token"]))).json()
        assert all("VIP" not in m["body"] for m in listed)

        # Transfer to Teo (online on his socket), who accepts over REST.
        teo = await OperatorSocket.connect(live.ws_url, teo_token)
        r = await http.post(f"/api/v1/conversations/{conv['id']}/transfer", json={"operator_id": str((await http.get('/api/v1/auth/me', headers=bearer(teo_token))).json()['id'])}, headers=bearer(sara_token))
        assert r.status_code == 204, r.text
        await sara.until(lambda f: f["type"] == "chat.transferred")
        await teo.until(lambda f: f["type"] == "offer.created" and f["transfer"] is True)
        assert (await http.post(f"/api/v1/conversations/{conv['id']}/accept", headers=bearer(teo_token))).status_code == 200
        await visitor.until(lambda f: f["type"] == "message" and "Teo" in f["message"]["body"])
        r = await http.post(f"/api/v1/conversations/{conv['id']}/messages", json={"body": "after"}, headers=bearer(sara_token))
        assert r.status_code == 404
        notes = await http.get(f"/api/v1/conversations/{conv['id']}/notes", headers=bearer(teo_token))
        assert [n["body"] for n in notes.json()] == ["cliente VIP, rimborso ok"]

        # Teo ends the chat; the visitor is asked for a rating and gives it once.
        await teo.send({"type": "end", "conversation_id": conv["id"]})
        await visitor.until(lambda f: f["type"] == "rating.requested")
        r = await http.post(f"/api/v1/conversations/{conv['id']}/rating", json={"rating": 6}, headers=auth(conv["token"]))
        assert r.status_code == 422
        r = await http.post(f"/api/v1/conversations/{conv['id']}/rating", json={"rating": 5, "comment": "Grazie!"}, headers=auth(conv["token"]))
        assert r.status_code == 204
        r = await http.post(f"/api/v1/conversations/{conv['id']}/rating", json={"rating": 4}, headers=auth(conv["token"]))
        assert r.status_code == 409
        state = (await http.get(f"/api/v1/conversations/{conv['id']}", headers=auth(conv["token"]))).json()
        assert state["status"] == "closed" and state["rating"] == 5 and state["operator"] == {"name": "Teo"}
        for sock in (sara, teo):
            await sock.close()
        await visitor.close()
