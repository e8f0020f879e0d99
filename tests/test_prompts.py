"""Prompts: CRUD, and the one-active-prompt invariant under concurrency."""

from __future__ import annotations

import asyncio


async def _project(client, headers, name="P"):
    response = await client.post("/projects", json={"name": name}, headers=headers)
    return (await response.get_json())["id"]


async def _prompt(client, headers, project_id, name="p", content="You are terse.", **extra):
    response = await client.post(
        f"/projects/{project_id}/prompts",
        json={"name": name, "content": content, **extra},
        headers=headers,
    )
    assert response.status_code == 201, await response.get_data()
    return await response.get_json()


async def _active(client, headers, project_id):
    response = await client.get(f"/projects/{project_id}/prompts?limit=100", headers=headers)
    return [row["id"] for row in (await response.get_json())["data"] if row["is_active"]]


async def test_prompt_crud(client, auth):
    alice = auth("alice")
    project_id = await _project(client, alice)
    prompt = await _prompt(client, alice, project_id, name="Tutor", content="Explain.")
    assert prompt["is_active"] is False and prompt["project_id"] == project_id

    read = await client.get(f"/prompts/{prompt['id']}", headers=alice)
    assert await read.get_json() == prompt

    edited = await client.patch(
        f"/prompts/{prompt['id']}", json={"content": "Explain simply."}, headers=alice
    )
    assert edited.status_code == 200
    body = await edited.get_json()
    assert body["content"] == "Explain simply." and body["name"] == "Tutor"

    listed = await client.get(f"/projects/{project_id}/prompts", headers=alice)
    assert [row["id"] for row in (await listed.get_json())["data"]] == [prompt["id"]]

    assert (await client.delete(f"/prompts/{prompt['id']}", headers=alice)).status_code == 204
    assert (await client.get(f"/prompts/{prompt['id']}", headers=alice)).status_code == 404
    assert (await client.delete(f"/prompts/{prompt['id']}", headers=alice)).status_code == 404


async def test_prompts_of_a_missing_project_is_404(client, auth):
    alice = auth("alice")
    assert (await client.get("/projects/prj_missing/prompts", headers=alice)).status_code == 404
    response = await client.post(
        "/projects/prj_missing/prompts", json={"name": "n", "content": "c"}, headers=alice
    )
    assert response.status_code == 404


async def test_activate_moves_the_active_flag(client, auth):
    alice = auth("alice")
    project_id = await _project(client, alice)
    first = await _prompt(client, alice, project_id, name="first", is_active=True)
    second = await _prompt(client, alice, project_id, name="second")
    assert await _active(client, alice, project_id) == [first["id"]]

    activated = await client.post(f"/prompts/{second['id']}/activate", headers=alice)
    assert activated.status_code == 200
    assert (await activated.get_json())["is_active"] is True
    assert await _active(client, alice, project_id) == [second["id"]]

    third = await _prompt(client, alice, project_id, name="third", is_active=True)
    assert await _active(client, alice, project_id) == [third["id"]]
    assert (await client.post("/prompts/pmt_missing/activate", headers=alice)).status_code == 404


async def test_concurrent_activations_leave_exactly_one_active(client, auth):
    alice = auth("alice")
    project_id = await _project(client, alice)
    prompts = [await _prompt(client, alice, project_id, name=f"p{i}") for i in range(20)]
    responses = await asyncio.gather(
        *(client.post(f"/prompts/{p['id']}/activate", headers=alice) for p in prompts)
    )
    assert [r.status_code for r in responses] == [200] * 20
    assert len(await _active(client, alice, project_id)) == 1


async def test_concurrent_active_creations_leave_exactly_one_active(client, auth):
    alice = auth("alice")
    project_id = await _project(client, alice)
    responses = await asyncio.gather(
        *(
            client.post(
                f"/projects/{project_id}/prompts",
                json={"name": f"p{i}", "content": "c", "is_active": True},
                headers=alice,
            )
            for i in range(10)
        )
    )
    assert [r.status_code for r in responses] == [201] * 10
    assert len(await _active(client, alice, project_id)) == 1
