"""Bad input answers 4xx in the error shape, never 500, and writes nothing."""

from __future__ import annotations

import pytest


async def _count_projects(client, headers):
    return len(
        (await (await client.get("/projects?limit=100", headers=headers)).get_json())["data"]
    )


BAD_PROJECT_BODIES = [
    # (raw body, content type, expected status)
    (b'{"name": ', "application/json", 400),
    (b"not json at all", "application/json", 400),
    (b'{"name": "ok"}', "text/plain", 415),
    (b'{"name": "ok"}', None, 415),
    (b"[]", "application/json", 422),
    (b"null", "application/json", 422),
    (b'"name"', "application/json", 422),
    (b"{}", "application/json", 422),
    (b'{"name": 5}', "application/json", 422),
    (b'{"name": null}', "application/json", 422),
    (b'{"name": ["a"]}', "application/json", 422),
    (b'{"name": ""}', "application/json", 422),
    (b'{"name": "   "}', "application/json", 422),
    (b'{"name": "a\\u0000b"}', "application/json", 422),
    (b'{"name": "a\\u0007b"}', "application/json", 422),
    (('{"name": "' + "x" * 201 + '"}').encode(), "application/json", 422),
    (b'{"name": "\\ud800"}', "application/json", 422),
]


@pytest.mark.parametrize("body, content_type, status", BAD_PROJECT_BODIES)
async def test_bad_project_bodies(client, auth, body, content_type, status):
    alice = auth("alice")
    headers = dict(alice)
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post("/projects", data=body, headers=headers)
    assert response.status_code == status, await response.get_data()
    error = (await response.get_json())["error"]
    assert error["code"] and error["message"]
    assert "Traceback" not in error["message"]
    assert await _count_projects(client, alice) == 0


async def test_validation_error_names_the_field_without_echoing_input(client, auth):
    response = await client.post("/projects", json={"name": 12345}, headers=auth("alice"))
    body = await response.get_json()
    assert response.status_code == 422
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["details"][0]["loc"] == ["name"]
    assert "12345" not in str(body)


async def test_oversized_json_body_is_413(client, auth):
    body = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    headers = {**auth("alice"), "Content-Type": "application/json"}
    response = await client.post("/projects", data=body, headers=headers)
    assert response.status_code == 413
    assert (await response.get_json())["error"]["code"]


async def test_bad_prompt_and_conversation_fields(client, auth):
    alice = auth("alice")
    project_id = (
        await (await client.post("/projects", json={"name": "P"}, headers=alice)).get_json()
    )["id"]
    cases = [
        (f"/projects/{project_id}/prompts", {"name": "n"}),
        (f"/projects/{project_id}/prompts", {"name": "n", "content": 1}),
        (f"/projects/{project_id}/prompts", {"name": "n", "content": "c", "is_active": "yes"}),
        (f"/projects/{project_id}/prompts", {"name": "n", "content": "c\u0000"}),
        (f"/projects/{project_id}/prompts", {"name": "n", "content": "c" * 200_001}),
        (f"/projects/{project_id}/conversations", {"title": 7}),
        (f"/projects/{project_id}/conversations", {"title": "t" * 201}),
    ]
    for url, body in cases:
        response = await client.post(url, json=body, headers=alice)
        assert response.status_code in (413, 422), (url, body, response.status_code)
    prompts = await (await client.get(f"/projects/{project_id}/prompts", headers=alice)).get_json()
    conversations = await (
        await client.get(f"/projects/{project_id}/conversations", headers=alice)
    ).get_json()
    assert prompts["data"] == [] and conversations["data"] == []


async def test_bad_patch_bodies_change_nothing(client, auth):
    alice = auth("alice")
    project = await (await client.post("/projects", json={"name": "P"}, headers=alice)).get_json()
    for body in ({"name": ""}, {"name": None}, {}, {"name": "x" * 500}):
        response = await client.patch(f"/projects/{project['id']}", json=body, headers=alice)
        assert response.status_code == 422, body
    after = await (await client.get(f"/projects/{project['id']}", headers=alice)).get_json()
    assert after == project


async def test_odd_ids_are_404_not_500(client, auth):
    alice = auth("alice")
    for path in (
        "/projects/%00",
        "/projects/" + "x" * 5000,
        "/prompts/'%3B--",
        "/conversations/%F0%9F%92%A9",
    ):
        response = await client.get(path, headers=alice)
        assert response.status_code == 404, path


async def test_chat_accepts_a_long_use_chat_history(client, auth):
    """useChat sends the whole history with every message: a body past the 1 MiB JSON limit
    of other routes still reaches /chat (and only its last message is read)."""
    alice = auth("alice")
    project = await (await client.post("/projects", json={"name": "P"}, headers=alice)).get_json()
    conversation = await (
        await client.post(f"/projects/{project['id']}/conversations", json={}, headers=alice)
    ).get_json()
    old = [
        {"id": f"m{i}", "role": "user", "parts": [{"type": "text", "text": "x" * 100_000}]}
        for i in range(20)
    ]
    last = {"id": "new", "role": "user", "parts": [{"type": "text", "text": "hi"}]}
    body = {"id": conversation["id"], "messages": [*old, last], "trigger": "submit-message"}
    response = await client.post("/chat", json=body, headers=alice)
    assert response.status_code == 200
    await response.get_data()
    history = await client.get(f"/conversations/{conversation['id']}/messages", headers=alice)
    stored = (await history.get_json())["data"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[0]["content"] == "hi"


def test_a_bad_number_setting_names_the_variable():
    import pytest

    from promptkit.settings import Settings

    with pytest.raises(ValueError, match="PROMPTKIT_MAX_UPLOAD_BYTES"):
        Settings.from_env({"PROMPTKIT_MAX_UPLOAD_BYTES": "lots"})
