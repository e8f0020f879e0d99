"""`on_message_deleted`: a conversation's or a project's delete tells the observers of each
message that went, in the API's shapes, after the commit; nothing stored slips past them, even
when a chat races the delete; without an observer a delete is what it always was."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from quart.datastructures import FileStorage

from promptkit import hookimpl
from promptkit.db import deletes
from promptkit.db.owners import Owner
from promptkit.testing import chat
from promptkit.testing.fake_openai import FakeOpenAI, Script


class Observer:
    """Sees what is saved and what is deleted, as JSON text (as a plugin would ship it)."""

    def __init__(self) -> None:
        self.saved: list[dict] = []
        self.deleted: list[tuple[dict, dict, str]] = []

    @hookimpl
    def on_message_saved(self, message):
        self.saved.append(json.loads(json.dumps(message)))

    @hookimpl
    async def on_message_deleted(self, message, conversation, principal):
        self.deleted.append(
            (
                json.loads(json.dumps(message)),
                json.loads(json.dumps(conversation)),
                principal.user_id,
            )
        )


class Broken:
    @hookimpl
    def on_message_deleted(self, message):
        raise RuntimeError("this observer is broken")


async def _conversation(client, headers, project_id):
    made = await client.post(f"/projects/{project_id}/conversations", json={}, headers=headers)
    assert made.status_code == 201
    return (await made.get_json())["id"]


async def _project(client, headers, name="P"):
    made = await client.post("/projects", json={"name": name}, headers=headers)
    assert made.status_code == 201
    return (await made.get_json())["id"]


async def _messages(client, headers, conversation_id):
    listed = await client.get(f"/conversations/{conversation_id}/messages", headers=headers)
    assert listed.status_code == 200
    # As an observer sees them: without `branch`, their place among their versions in a list.
    return [
        {key: value for key, value in message.items() if key != "branch"}
        for message in (await listed.get_json())["data"]
    ]


async def test_a_conversation_delete_reports_each_message_oldest_first(make_app, auth, caplog):
    observer = Observer()
    app = make_app(Broken(), observer)
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        project_id = await _project(client, alice)
        doomed = await _conversation(client, alice, project_id)
        kept = await _conversation(client, alice, project_id)
        for conversation in (doomed, kept):
            await chat(client, alice, "first", conversation_id=conversation)
            await chat(client, alice, "second", conversation_id=conversation)
        shown = await _messages(client, alice, doomed)
        conversation_shown = await (
            await client.get(f"/conversations/{doomed}", headers=alice)
        ).get_json()

        with caplog.at_level(logging.ERROR):
            response = await client.delete(f"/conversations/{doomed}", headers=alice)

        assert response.status_code == 204  # one observer raising fails nothing
        assert "on_message_deleted" in caplog.text
        assert [message for message, _, _ in observer.deleted] == shown  # the API's own shapes
        assert [message["role"] for message in shown] == ["user", "assistant"] * 2
        assert {user for _, _, user in observer.deleted} == {"alice"}
        assert all(conversation == conversation_shown for _, conversation, _ in observer.deleted)
        assert len(await _messages(client, alice, kept)) == 4  # another conversation's stay
        assert (await client.get(f"/conversations/{doomed}", headers=alice)).status_code == 404


async def test_another_users_conversation_is_404_and_reports_nothing(make_app, auth):
    observer = Observer()
    app = make_app(observer)
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        conversation = await _conversation(client, alice, await _project(client, alice))
        await chat(client, alice, "mine", conversation_id=conversation)

        foreign = await client.delete(f"/conversations/{conversation}", headers=auth("bob"))
        missing = await client.delete("/conversations/cnv_nope", headers=alice)

        assert foreign.status_code == missing.status_code == 404
        assert await foreign.get_json() == await missing.get_json()
        assert observer.deleted == []
        assert len(await _messages(client, alice, conversation)) == 2


async def test_a_project_delete_reports_the_messages_of_each_conversation(make_app, auth):
    observer = Observer()
    app = make_app(observer)
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        project_id, other = await _project(client, alice), await _project(client, alice, "Keep")
        first = await _conversation(client, alice, project_id)
        second = await _conversation(client, alice, project_id)
        empty = await _conversation(client, alice, project_id)
        kept = await _conversation(client, alice, other)
        for conversation in (first, second, kept):
            await chat(client, alice, "hello", conversation_id=conversation)
        expected = [*await _messages(client, alice, first), *await _messages(client, alice, second)]

        response = await client.delete(f"/projects/{project_id}", headers=alice)

        assert response.status_code == 204
        assert [message for message, _, _ in observer.deleted] == expected
        assert [conversation["id"] for _, conversation, _ in observer.deleted] == [first] * 2 + [
            second
        ] * 2
        assert empty not in {conversation["id"] for _, conversation, _ in observer.deleted}
        assert len(await _messages(client, alice, kept)) == 2
        assert (await client.get(f"/projects/{project_id}", headers=alice)).status_code == 404


async def test_a_project_with_files_left_keeps_its_messages(make_app, auth):
    """The project is deleted only once its files are: until then nothing goes, not even the
    messages read back for the observers (their delete is rolled back with it)."""
    app = make_app(Observer())
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        project_id = await _project(client, alice)
        conversation = await _conversation(client, alice, project_id)
        await chat(client, alice, "hello", conversation_id=conversation)
        upload = FileStorage(io.BytesIO(b"bytes"), filename="a.txt", content_type="text/plain")
        uploaded = await client.post(
            f"/projects/{project_id}/files", files={"file": upload}, headers=alice
        )
        assert uploaded.status_code == 201

        assert await deletes.project_if_empty(app.db, Owner("alice"), project_id) == (False, [])
        assert await deletes.project_if_empty(app.db, Owner("bob"), project_id) == (None, [])

        assert len(await _messages(client, alice, conversation)) == 2
        assert (await client.get(f"/projects/{project_id}", headers=alice)).status_code == 200


@pytest.fixture
async def slow_upstream():
    server = await FakeOpenAI().start()
    server.default = Script(tokens=[f" t{i}" for i in range(8)], delay=0.005)
    yield server
    await server.close()


async def test_a_chat_racing_a_delete_never_leaves_a_stored_message_unreported(
    make_app, auth, slow_upstream
):
    observer = Observer()
    environ = {
        "OPENAI_BASE_URL": slow_upstream.base_url,
        "OPENAI_API_KEY": "sk-race",
        "PROMPTKIT_OPENAI_MODELS": "gpt-4.1-mini",
    }
    app = make_app(observer, environ=environ)
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        project_id = await _project(client, alice)
        for round_ in range(12):
            conversation = await _conversation(client, alice, project_id)

            async def delete_later(delay: float, conversation: str = conversation):
                await asyncio.sleep(delay)
                return await client.delete(f"/conversations/{conversation}", headers=alice)

            body = {"conversation_id": conversation, "message": "hi"}
            answered, deleted = await asyncio.gather(
                client.post("/chat", json=body, headers=alice), delete_later(0.004 * round_)
            )
            assert deleted.status_code == 204
            assert answered.status_code in (200, 404)
    saved = {message["id"] for message in observer.saved}
    reported = {message["id"] for message, _, _ in observer.deleted}
    assert saved <= reported, saved - reported
    assert saved, "no chat stored anything before its delete: the race was not run"
