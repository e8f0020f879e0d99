"""Prompt versions: numbered, immutable, restorable, raced; and the version each reply records."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from fake_openai import Script
from test_chat import history, new_conversation, send, upstream_env

from promptkit.db.engine import sync_url
from promptkit.migrate import alembic_config


@pytest.fixture
def app_environ(fake):
    return upstream_env(fake)


async def _prompt(client, headers, content="v1 text", **extra):
    project = await (await client.post("/projects", json={"name": "P"}, headers=headers)).get_json()
    response = await client.post(
        f"/projects/{project['id']}/prompts",
        json={"name": "system", "content": content, **extra},
        headers=headers,
    )
    assert response.status_code == 201
    return await response.get_json()


async def _versions(client, headers, prompt_id, query=""):
    response = await client.get(f"/prompts/{prompt_id}/versions{query}", headers=headers)
    assert response.status_code == 200, await response.get_data()
    return await response.get_json()


async def test_content_changes_make_versions_and_name_changes_do_not(client, auth):
    alice = auth("alice")
    prompt = await _prompt(client, alice)
    assert prompt["version"] == 1
    renamed = await client.patch(f"/prompts/{prompt['id']}", json={"name": "n2"}, headers=alice)
    assert (await renamed.get_json())["version"] == 1
    same = await client.patch(
        f"/prompts/{prompt['id']}", json={"content": "v1 text"}, headers=alice
    )
    assert (await same.get_json())["version"] == 1  # the content did not change
    edited = await client.patch(f"/prompts/{prompt['id']}", json={"content": "v2"}, headers=alice)
    body = await edited.get_json()
    assert (body["version"], body["content"]) == (2, "v2")

    listed = await _versions(client, alice, prompt["id"])
    assert [(v["version"], v["content"]) for v in listed["data"]] == [(2, "v2"), (1, "v1 text")]
    assert listed["next_cursor"] is None
    assert {v["created_by"] for v in listed["data"]} == {"alice"}
    one = await client.get(f"/prompts/{prompt['id']}/versions/1", headers=alice)
    assert (await one.get_json())["content"] == "v1 text"


async def test_restore_adds_a_version_and_rewrites_nothing(client, auth):
    alice = auth("alice")
    prompt = await _prompt(client, alice)
    await client.patch(f"/prompts/{prompt['id']}", json={"content": "v2"}, headers=alice)
    restored = await client.post(f"/prompts/{prompt['id']}/versions/1/restore", headers=alice)
    assert restored.status_code == 200
    body = await restored.get_json()
    assert (body["version"], body["content"]) == (3, "v1 text")
    listed = await _versions(client, alice, prompt["id"])
    assert [v["content"] for v in listed["data"]] == ["v1 text", "v2", "v1 text"]
    missing = await client.post(f"/prompts/{prompt['id']}/versions/9/restore", headers=alice)
    assert missing.status_code == 404


async def test_versions_page_newest_first_and_refuse_a_forged_cursor(client, auth):
    alice = auth("alice")
    prompt = await _prompt(client, alice)
    for n in range(2, 6):
        await client.patch(f"/prompts/{prompt['id']}", json={"content": f"v{n}"}, headers=alice)
    first = await _versions(client, alice, prompt["id"], "?limit=2")
    second = await _versions(client, alice, prompt["id"], f"?limit=2&cursor={first['next_cursor']}")
    third = await _versions(client, alice, prompt["id"], f"?limit=2&cursor={second['next_cursor']}")
    seen = [v["version"] for page in (first, second, third) for v in page["data"]]
    assert seen == [5, 4, 3, 2, 1] and third["next_cursor"] is None
    for cursor in ("nope", "WyJ2IiwgMF0", "WyJ2IiwgIjEiXQ", "WyJ2IiwgOTk5OTk5OTk5OTk5XQ"):
        response = await client.get(
            f"/prompts/{prompt['id']}/versions?cursor={cursor}", headers=alice
        )
        assert response.status_code == 422, cursor


async def test_twenty_racing_edits_get_twenty_distinct_versions(client, auth):
    alice = auth("alice")
    prompt = await _prompt(client, alice)
    edits = [f"edit {n}" for n in range(20)]
    responses = await asyncio.gather(
        *(
            client.patch(f"/prompts/{prompt['id']}", json={"content": e}, headers=alice)
            for e in edits
        )
    )
    assert [r.status_code for r in responses] == [200] * 20
    numbers = sorted([(await r.get_json())["version"] for r in responses])
    assert numbers == list(range(2, 22))
    listed = await _versions(client, alice, prompt["id"], "?limit=100")
    assert sorted(v["content"] for v in listed["data"][:-1]) == sorted(edits)  # none lost
    current = await (await client.get(f"/prompts/{prompt['id']}", headers=alice)).get_json()
    assert (current["version"], current["content"]) == (21, listed["data"][0]["content"])


async def test_another_users_prompt_versions_are_404(client, auth):
    alice, bob = auth("alice"), auth("bob")
    prompt = await _prompt(client, alice)
    base = f"/prompts/{prompt['id']}/versions"
    for method, path in (("GET", base), ("GET", f"{base}/1"), ("POST", f"{base}/1/restore")):
        response = await client.open(path, method=method, headers=bob)
        assert response.status_code == 404, path
    assert (await _versions(client, alice, prompt["id"]))["data"][0]["version"] == 1


@pytest.mark.parametrize("version", ["0", "2147483648", "99999999999999999999", "-1", "x"])
async def test_a_version_number_out_of_range_is_404(client, auth, version):
    alice = auth("alice")
    prompt = await _prompt(client, alice)
    response = await client.get(f"/prompts/{prompt['id']}/versions/{version}", headers=alice)
    assert response.status_code == 404


async def test_a_reply_records_the_version_its_turn_started_with(client, auth, fake):
    alice = auth("alice")
    conversation_id = await new_conversation(client, alice, prompt="Be brief.")
    project_id = (
        await (await client.get(f"/conversations/{conversation_id}", headers=alice)).get_json()
    )["project_id"]
    prompts = await (await client.get(f"/projects/{project_id}/prompts", headers=alice)).get_json()
    prompt_id = prompts["data"][0]["id"]

    fake.queue(Script(reply="slow reply words here", delay=0.05))
    chat = asyncio.ensure_future(
        send(client, alice, {"conversation_id": conversation_id, "message": "hi"})
    )
    for _ in range(500):  # until the turn has started upstream
        if fake.received:
            break
        await asyncio.sleep(0.01)
    edited = await client.patch(
        f"/prompts/{prompt_id}", json={"content": "Be long."}, headers=alice
    )
    assert (await edited.get_json())["version"] == 2
    _, events = await chat
    assert events[-1] == "[DONE]"
    assert fake.received[0].body["messages"][0] == {"role": "system", "content": "Be brief."}

    user, reply = await history(client, alice, conversation_id)
    assert user["prompt"] is None
    assert reply["prompt"] == {"id": prompt_id, "version": 1, "variables": {}}
    # The stream's metadata says so too, so a client can show it without reading the history.
    [metadata] = [e["messageMetadata"] for e in events[:-1] if e["type"] == "message-metadata"]
    assert metadata["prompt"] == reply["prompt"]
    await send(client, alice, {"conversation_id": conversation_id, "message": "again"})
    assert (await history(client, alice, conversation_id))[-1]["prompt"]["version"] == 2


async def test_a_conversation_without_an_active_prompt_records_none(client, auth, fake):
    alice = auth("alice")
    conversation_id = await new_conversation(client, alice)
    await send(client, alice, {"conversation_id": conversation_id, "message": "hi"})
    assert [m["prompt"] for m in await history(client, alice, conversation_id)] == [None, None]


PROMPT = "Hello {{name}}, from {{ team }}. Literal: {{{{name}}. Again {{name}}."


async def test_variables_are_filled_once_and_recorded(client, auth, fake):
    alice = auth("alice")
    conversation_id = await new_conversation(client, alice, prompt=PROMPT)
    values = {"name": "{{team}}", "team": "ops", "unused": "x"}
    body = {"conversation_id": conversation_id, "message": "hi", "prompt_variables": values}
    response, events = await send(client, alice, body)
    assert response.status_code == 200 and events[-1] == "[DONE]"
    system = fake.last.body["messages"][0]["content"]
    # A value that looks like a placeholder is not expanded again; `{{{{` is a literal `{{`.
    assert system == "Hello {{team}}, from ops. Literal: {{name}}. Again {{team}}."
    reply = (await history(client, alice, conversation_id))[-1]
    assert reply["prompt"]["variables"] == {"name": "{{team}}", "team": "ops"}


async def test_use_chat_body_carries_variables_too(client, auth, fake):
    alice = auth("alice")
    conversation_id = await new_conversation(client, alice, prompt="Hi {{name}}")
    body = {
        "id": conversation_id,
        "messages": [{"role": "user", "parts": [{"type": "text", "text": "yo"}]}],
        "prompt_variables": {"name": "Ada"},
    }
    response, _ = await send(client, alice, body)
    assert response.status_code == 200
    assert fake.last.body["messages"][0]["content"] == "Hi Ada"


async def test_a_missing_variable_is_422_and_stores_nothing(client, auth, fake):
    alice = auth("alice")
    conversation_id = await new_conversation(client, alice, prompt="For {{team}} and {{name}}")
    body = {"conversation_id": conversation_id, "message": "hi", "prompt_variables": {"name": "A"}}
    response = await client.post("/chat", json=body, headers=alice)
    assert response.status_code == 422
    error = (await response.get_json())["error"]
    assert error["code"] == "missing_prompt_variable" and "team" in error["message"]
    assert await history(client, alice, conversation_id) == []
    assert fake.received == []
    # The refusal released the conversation: the next turn with the value goes through.
    body["prompt_variables"]["team"] = "ops"
    response, events = await send(client, alice, body)
    assert response.status_code == 200 and events[-1] == "[DONE]"


@pytest.mark.parametrize(
    "variables",
    [{"bad name": "x"}, {"name": 1}, {"name": None}, ["name"], {"n": "a\x00"}, "x"],
)
async def test_malformed_variables_are_422(client, auth, fake, variables):
    alice = auth("alice")
    conversation_id = await new_conversation(client, alice, prompt="Hi {{name}}")
    body = {"conversation_id": conversation_id, "message": "hi", "prompt_variables": variables}
    response = await client.post("/chat", json=body, headers=alice)
    assert response.status_code == 422
    assert fake.received == []


def test_existing_prompts_become_version_one(tmp_path):
    """The migration on a database that has prompts already (SQLite: a file of its own)."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    config = alembic_config(url)
    command.upgrade(config, "0001")
    engine = sa.create_engine(sync_url(url))
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO projects VALUES ('prj_1', 'alice', 'P', '2026-01-01', '2026-01-01')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO prompts VALUES ('pmt_1', 'prj_1', 'alice', 'n', 'old text', 1,"
                " '2026-01-01', '2026-01-02')"
            )
        )
    command.upgrade(config, "head")
    with engine.connect() as connection:
        version = connection.execute(sa.text("SELECT version FROM prompts")).scalar_one()
        rows = connection.execute(
            sa.text("SELECT prompt_id, version, content, created_by FROM prompt_versions")
        ).all()
    engine.dispose()
    assert version == 1
    assert [tuple(row) for row in rows] == [("pmt_1", 1, "old text", "alice")]
