"""Races between writers of a project, and inputs PostgreSQL cannot store: real concurrent
requests over the app on the test database, then the database itself is checked."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import sqlalchemy as sa
from joserfc import jws

from plugins.builtin_clerk.local import mint_session_token
from promptkit.db import projects as projects_db
from promptkit.db.engine import Database
from promptkit.db.tables import conversations, messages, prompts
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
        for table in (prompts, conversations):
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
            assert await projects_db.lock(db, "bob", project_id) is None
            assert await projects_db.lock(db, "alice", project_id) == project_id
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
