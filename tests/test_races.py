"""Races between writers of a project, and inputs PostgreSQL cannot store: real concurrent
requests over the app on the test database, then the database itself is checked."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import pytest
import sqlalchemy as sa
from fake_openai import FakeOpenAI, Script
from fake_openai_files import FakeOpenAIFiles
from joserfc import jws
from quart.datastructures import FileStorage
from test_chat import parse_events

from plugins.builtin_clerk.local import mint_session_token
from promptkit.db import projects as projects_db
from promptkit.db.engine import Database, sync_url
from promptkit.db.owners import Owner
from promptkit.db.tables import conversations, file_metadata, messages, prompts
from promptkit.db.tables import projects as projects_table

ROUNDS = 20


async def _json(response):
    return await response.get_json()


async def _project(client, headers):
    return (await _json(await client.post("/projects", json={"name": "P"}, headers=headers)))["id"]


async def _prompt(client, headers, project_id, **extra):
    response = await client.post(
        f"/projects/{project_id}/prompts",
        json={"name": "p", "content": "c", **extra},
        headers=headers,
    )
    assert response.status_code == 201
    return (await _json(response))["id"]


async def _active(client, headers, project_id):
    response = await client.get(f"/projects/{project_id}/prompts?limit=100", headers=headers)
    return [row["id"] for row in (await _json(response))["data"] if row["is_active"]]


async def test_activate_racing_delete_never_leaves_no_active_prompt(client, auth):
    alice = auth("alice")
    project_id = await _project(client, alice)
    keeper = await _prompt(client, alice, project_id, is_active=True)
    for _ in range(ROUNDS):
        doomed = await _prompt(client, alice, project_id)
        activated, deleted = await asyncio.gather(
            client.post(f"/prompts/{doomed}/activate", headers=alice),
            client.delete(f"/prompts/{doomed}", headers=alice),
        )
        assert deleted.status_code == 204
        assert activated.status_code in (200, 404)
        if activated.status_code == 404:  # the delete won: the keeper was never deactivated
            assert await _active(client, alice, project_id) == [keeper]
        else:  # the active prompt itself was deleted afterwards
            assert await _active(client, alice, project_id) == []
            activate = await client.post(f"/prompts/{keeper}/activate", headers=alice)
            assert activate.status_code == 200


async def _orphans(database_url: str) -> int:
    db = Database(database_url)
    await db.connect()
    try:
        count = 0
        for table in (prompts, conversations, file_metadata):
            parentless = sa.select(table.c.id).where(
                ~sa.exists().where(projects_table.c.id == table.c.project_id)
            )
            count += len(await db.fetch_all(parentless))
        lost = sa.select(messages.c.id).where(
            ~sa.exists().where(conversations.c.id == messages.c.conversation_id)
        )
        return count + len(await db.fetch_all(lost))
    finally:
        await db.disconnect()


async def test_create_child_racing_delete_parent_is_201_or_404(client, auth, clean_database):
    alice = auth("alice")
    for _ in range(ROUNDS):
        project_id = await _project(client, alice)
        prompt, active_prompt, conversation, deleted = await asyncio.gather(
            client.post(
                f"/projects/{project_id}/prompts",
                json={"name": "p", "content": "c"},
                headers=alice,
            ),
            client.post(
                f"/projects/{project_id}/prompts",
                json={"name": "p", "content": "c", "is_active": True},
                headers=alice,
            ),
            client.post(f"/projects/{project_id}/conversations", json={}, headers=alice),
            client.delete(f"/projects/{project_id}", headers=alice),
        )
        assert deleted.status_code == 204
        for response in (prompt, active_prompt, conversation):
            assert response.status_code in (201, 404), await response.get_data()
            if response.status_code == 404:
                assert (await _json(response))["error"]["code"] == "not_found"
    assert await _orphans(clean_database) == 0


async def test_create_child_in_another_tenants_project_is_404(client, auth):
    project_id = await _project(client, auth("alice"))
    bob = auth("bob")
    for path, body in (
        ("prompts", {"name": "p", "content": "c", "is_active": True}),
        ("conversations", {}),
    ):
        response = await client.post(f"/projects/{project_id}/{path}", json=body, headers=bob)
        assert response.status_code == 404
    assert await _active(client, auth("alice"), project_id) == []


async def test_project_lock_is_owner_scoped(client, auth, clean_database):
    project_id = await _project(client, auth("alice"))
    db = Database(clean_database)
    await db.connect()
    try:
        async with db.transaction():
            assert await projects_db.lock(db, Owner("bob"), project_id) is None
            assert await projects_db.lock(db, Owner("alice"), project_id) == project_id
    finally:
        await db.disconnect()


def _cursor(created_at: str, row_id: str) -> str:
    raw = json.dumps([created_at, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("0001-01-01T00:00:00+05:00", "prj_x"),  # leaves the range once in UTC
        _cursor("9999-12-31T23:00:00-05:00", "prj_x"),
        _cursor("2026-01-01T00:00:00+00:00", "prj_\x00"),
        _cursor("2026-01-01T00:00:00+00:00", "prj_\ud800"),
        _cursor("2026-01-01T00:00:00+00:00", "x" * 40),
    ],
)
async def test_a_cursor_that_was_not_issued_is_422(client, auth, cursor):
    alice = auth("alice")
    project_id = await _project(client, alice)
    for path in ("/projects", f"/projects/{project_id}/prompts"):
        response = await client.get(f"{path}?cursor={cursor}", headers=alice)
        assert response.status_code == 422, await response.get_data()
        assert (await _json(response))["error"]["code"] == "validation_error"


async def test_an_issued_cursor_still_pages(client, auth):
    alice = auth("alice")
    made = [await _project(client, alice) for _ in range(3)]
    first = await _json(await client.get("/projects?limit=2", headers=alice))
    second = await _json(
        await client.get(f"/projects?limit=2&cursor={first['next_cursor']}", headers=alice)
    )
    assert [row["id"] for row in first["data"] + second["data"]] == made[::-1]


def _token_with_subject(key, subject: str) -> str:
    """A validly signed session token whose `sub` is `subject`, written as JSON escapes (a
    lone surrogate has no UTF-8 form, but JSON carries it)."""
    header, payload, _ = mint_session_token(key, "placeholder", ttl_seconds=900).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = subject
    protected = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    return jws.serialize_compact(protected, json.dumps(claims).encode(), key, algorithms=["RS256"])


@pytest.mark.parametrize("subject", ["u" * 256, "user\x00x", "user\ud800"])
async def test_a_subject_no_row_can_hold_is_401(client, clerk_signing_key, subject):
    token = _token_with_subject(clerk_signing_key, subject)
    headers = {"Authorization": f"Bearer {token}"}
    for method, path in (("get", "/projects"), ("post", "/projects")):
        response = await getattr(client, method)(path, json={"name": "x"}, headers=headers)
        assert response.status_code == 401, await response.get_data()
        assert (await _json(response))["error"]["code"] == "unauthenticated"


async def test_a_long_valid_subject_is_accepted(client, clerk_signing_key):
    token = mint_session_token(clerk_signing_key, "u" * 255, ttl_seconds=900)
    response = await client.get("/projects", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def _staggered(round_: int) -> tuple[float, float]:
    """How long each side of a race waits before it starts: the delete starts well before the
    other request in the first rounds, then closer and closer, then later and later."""
    shift = (round_ - ROUNDS // 2) * 0.003
    return (max(0.0, -shift), max(0.0, shift))


async def _later(delay: float, request):
    await asyncio.sleep(delay)
    return await request


@pytest.fixture
async def chat_upstream():
    server = await FakeOpenAI().start()
    # A reply long enough for the delete to land before, during or after it.
    server.default = Script(tokens=[f" t{i}" for i in range(8)], delay=0.005)
    yield server
    await server.close()


async def test_chat_racing_delete_conversation_is_answered_and_leaves_no_orphan(
    make_app, auth, chat_upstream, clean_database
):
    app = make_app(environ={"OPENAI_BASE_URL": chat_upstream.base_url, "OPENAI_API_KEY": "sk-race"})
    alice = auth("alice")
    outcomes = set()
    async with app.test_app():
        client = app.test_client()
        project_id = await _project(client, alice)
        for round_ in range(ROUNDS):
            made = await client.post(
                f"/projects/{project_id}/conversations", json={}, headers=alice
            )
            conversation = (await _json(made))["id"]

            chat_delay, delete_delay = _staggered(round_)
            chat, deleted = await asyncio.gather(
                _later(
                    chat_delay,
                    client.post(
                        "/chat",
                        json={"conversation_id": conversation, "message": "hi"},
                        headers=alice,
                    ),
                ),
                _later(
                    delete_delay, client.delete(f"/conversations/{conversation}", headers=alice)
                ),
            )
            assert deleted.status_code == 204
            assert chat.status_code in (200, 404), await chat.get_data()
            if chat.status_code == 200:  # it streamed: it ends as every stream does
                events = parse_events(await chat.get_data())
                assert events[-1] == "[DONE]"
                last = events[-2]
                assert last["type"] in ("finish", "error"), events
                outcomes.add(last["type"])
            else:
                assert (await _json(chat))["error"]["code"] == "not_found"
                outcomes.add("404")
            gone = await client.get(f"/conversations/{conversation}/messages", headers=alice)
            assert gone.status_code == 404
    assert await _orphans(clean_database) == 0
    assert len(outcomes) >= 2, outcomes  # the race was run, not always won by one side


@pytest.fixture
async def files_provider():
    server = await FakeOpenAIFiles().start()
    yield server
    await server.close()


async def test_upload_racing_delete_project_leaves_no_orphan_here_or_at_the_provider(
    make_app, auth, files_provider, clean_database
):
    app = make_app(
        environ={
            "OPENAI_API_KEY": files_provider.api_key,
            "OPENAI_BASE_URL": files_provider.base_url,
        }
    )
    alice = auth("alice")
    statuses = []
    async with app.test_app():
        client = app.test_client()
        for round_ in range(ROUNDS):
            project_id = await _project(client, alice)
            storage = FileStorage(
                io.BytesIO(b"x" * 4096), filename="a.txt", content_type="text/plain"
            )
            upload_delay, delete_delay = _staggered(round_)
            uploaded, deleted = await asyncio.gather(
                _later(
                    upload_delay,
                    client.post(
                        f"/projects/{project_id}/files", files={"file": storage}, headers=alice
                    ),
                ),
                _later(delete_delay, client.delete(f"/projects/{project_id}", headers=alice)),
            )
            assert uploaded.status_code in (201, 404), await uploaded.get_data()
            assert deleted.status_code in (204, 409), await deleted.get_data()
            statuses.append((uploaded.status_code, deleted.status_code))
            if deleted.status_code == 409:  # a file came in under the delete: it can go now
                assert (
                    await client.delete(f"/projects/{project_id}", headers=alice)
                ).status_code == 204
            assert (await client.get(f"/projects/{project_id}", headers=alice)).status_code == 404
    assert await _orphans(clean_database) == 0
    engine = sa.create_engine(sync_url(clean_database))
    with engine.connect() as connection:
        rows = connection.execute(sa.select(file_metadata.c.id)).all()
    engine.dispose()
    assert rows == []
    assert files_provider.files == {}  # every stored byte was deleted at the provider too
    assert len(set(statuses)) >= 2, statuses
