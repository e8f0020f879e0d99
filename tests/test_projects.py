"""Projects CRUD: happy paths and every error status API.md names for them."""

from __future__ import annotations

from datetime import datetime


async def test_create_read_rename_delete(client, auth):
    alice = auth("alice")
    created = await client.post("/projects", json={"name": "  Launch  "}, headers=alice)
    assert created.status_code == 201
    project = await created.get_json()
    assert project["name"] == "Launch"
    assert set(project) == {"id", "name", "owner", "tools", "created_at", "updated_at"}
    assert project["owner"] == {"kind": "user", "id": "alice"}
    assert datetime.fromisoformat(project["created_at"]).tzinfo is not None

    read = await client.get(f"/projects/{project['id']}", headers=alice)
    assert read.status_code == 200
    assert await read.get_json() == project

    renamed = await client.patch(
        f"/projects/{project['id']}", json={"name": "Renamed"}, headers=alice
    )
    assert renamed.status_code == 200
    body = await renamed.get_json()
    assert body["name"] == "Renamed"
    assert body["updated_at"] >= project["updated_at"]

    deleted = await client.delete(f"/projects/{project['id']}", headers=alice)
    assert deleted.status_code == 204
    gone = await client.get(f"/projects/{project['id']}", headers=alice)
    assert gone.status_code == 404
    assert (await gone.get_json())["error"]["code"] == "not_found"


async def test_list_is_newest_first_and_paginates(client, auth):
    alice = auth("alice")
    names = [f"p{i}" for i in range(5)]
    for name in names:
        assert (
            await client.post("/projects", json={"name": name}, headers=alice)
        ).status_code == 201
    seen, cursor = [], None
    while True:
        url = "/projects?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(url, headers=alice)
        assert response.status_code == 200
        body = await response.get_json()
        assert len(body["data"]) <= 2
        seen += [row["name"] for row in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(names))


async def test_list_rejects_bad_limit_and_cursor(client, auth):
    alice = auth("alice")
    for query in ("limit=0", "limit=101", "limit=abc", "cursor=not-a-cursor", "cursor=e30"):
        response = await client.get(f"/projects?{query}", headers=alice)
        assert response.status_code == 422, query
        assert (await response.get_json())["error"]["code"] == "validation_error"


async def test_no_credential_is_401_with_challenge(client):
    response = await client.get("/projects")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await response.get_json())["error"]["code"] == "unauthenticated"


async def test_kernel_without_auth_plugin_is_closed(make_app, settings):
    from promptkit.app import create_app

    app = create_app(settings)  # only the installed plugins; no test credentials accepted
    async with app.test_app():
        response = await app.test_client().get(
            "/projects", headers={"Authorization": "Bearer test:alice"}
        )
    assert response.status_code == 401


async def test_unknown_route_and_method(client, auth):
    missing = await client.get("/nope", headers=auth("alice"))
    assert missing.status_code == 404
    assert (await missing.get_json())["error"]["code"] == "not_found"
    wrong = await client.put("/projects", headers=auth("alice"))
    assert wrong.status_code == 405
    assert (await wrong.get_json())["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]


async def test_health_is_public(client):
    live = await client.get("/health")
    assert live.status_code == 200 and await live.get_json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    body = await ready.get_json()
    assert ready.status_code == 200, body
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == "ok"


async def test_openapi_and_docs_are_public(client):
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    paths = (await spec.get_json())["paths"]
    assert "/projects" in paths and "/prompts/{prompt_id}/activate" in paths
    docs = await client.get("/docs")
    assert docs.status_code == 200
