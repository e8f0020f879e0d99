"""A model that no installed provider serves is refused before anything is written."""

from __future__ import annotations


async def test_no_provider_is_503_and_writes_nothing(make_app, auth):
    app = make_app(disabled_plugins=("openai", "echo"))
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project = await (
            await client.post("/projects", json={"name": "P"}, headers=alice)
        ).get_json()
        conversation = await (
            await client.post(f"/projects/{project['id']}/conversations", json={}, headers=alice)
        ).get_json()
        response = await client.post(
            "/chat", json={"conversation_id": conversation["id"], "message": "hi"}, headers=alice
        )
        assert response.status_code == 503
        assert (await response.get_json())["error"]["code"] == "service_unavailable"
        history = await client.get(f"/conversations/{conversation['id']}/messages", headers=alice)
        assert (await history.get_json())["data"] == []
        # The conversation is free again: the refused request released its lease.
        again = await client.post(
            "/chat", json={"conversation_id": conversation["id"], "message": "hi"}, headers=alice
        )
        assert again.status_code == 503
