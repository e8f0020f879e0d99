"""Hostile request input and what the API shows about itself: every body-decoding failure is a
4xx in the error shape, one PATCH rule, a valid OpenAPI document, plain request ids, no secret
in a repr, a 413 that says what was too large, and plugin names only for operators."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec_validator import validate
from test_files_limits import BOUNDARY, multipart_head, multipart_tail, new_project

from promptkit.observability import acceptable_request_id
from promptkit.settings import Settings

FAKE_SERVER = __import__("fake_openai_files").FakeOpenAIFiles  # the `fake` fixture's server

ROUTES_WITH_BODIES = [
    ("POST", "/projects"),
    ("POST", "/chat"),
    ("PATCH", "/projects/{project_id}"),
    ("POST", "/projects/{project_id}/prompts"),
    ("POST", "/projects/{project_id}/conversations"),
]
TOO_DEEP = b"[" * 100_000 + b"]" * 100_000
UNDECODABLE = [
    (b'{"name": "\xff\xfe"}', "UTF-8"),
    (b"\x80" * 64, "UTF-8"),
    (TOO_DEEP, "nested too deeply"),
    (b'{"name": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", "nested too deeply"),
    (b'{"name": "x"', "not valid JSON"),
]


def _error(body: Any) -> dict[str, Any]:
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return error


@pytest.mark.parametrize("raw, says", UNDECODABLE)
@pytest.mark.parametrize("method, path", ROUTES_WITH_BODIES)
async def test_a_body_that_does_not_decode_is_400_on_every_route(
    make_app, auth, raw, says, method, path
):
    app = make_app(max_json_bytes=4 * 1024 * 1024)  # room for the deep one
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        response = await client.open(
            path.format(project_id=project_id),
            method=method,
            data=raw,
            headers={**auth("alice"), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, await response.get_data()
        error = _error(await response.get_json())
        assert error["code"] == "bad_request"
        assert says in error["message"]
        listed = await (await client.get("/projects", headers=auth("alice"))).get_json()
        assert [p["name"] for p in listed["data"]] == ["Big"]  # nothing written


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"5", b"null", b"true"])
async def test_the_wrong_top_level_type_is_422_on_chat_too(client, auth, raw):
    response = await client.post(
        "/chat", data=raw, headers={**auth("alice"), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, await response.get_data()
    assert _error(await response.get_json())["code"] == "validation_error"


async def test_null_for_a_field_that_cannot_be_null_is_422_on_every_patch(client, auth):
    alice = auth("alice")
    project = await (await client.post("/projects", json={"name": "P"}, headers=alice)).get_json()
    prompt = await (
        await client.post(
            f"/projects/{project['id']}/prompts", json={"name": "n", "content": "c"}, headers=alice
        )
    ).get_json()
    conversation = await (
        await client.post(f"/projects/{project['id']}/conversations", json={}, headers=alice)
    ).get_json()
    for path, body in [
        (f"/prompts/{prompt['id']}", {"content": None}),
        (f"/prompts/{prompt['id']}", {"name": None}),
        (f"/prompts/{prompt['id']}", {"name": "renamed", "content": None}),
        (f"/projects/{project['id']}", {"name": None}),
        (f"/conversations/{conversation['id']}", {"title": None}),
    ]:
        response = await client.patch(path, json=body, headers=alice)
        assert response.status_code == 422, (path, body, await response.get_data())
        [field] = [name for name, value in body.items() if value is None]
        assert [field] in [d["loc"] for d in _error(await response.get_json())["details"]]
    unchanged = await (await client.get(f"/prompts/{prompt['id']}", headers=alice)).get_json()
    assert (unchanged["name"], unchanged["content"]) == ("n", "c")
    # Leaving a field out still leaves it unchanged.
    response = await client.patch(f"/prompts/{prompt['id']}", json={"name": "m"}, headers=alice)
    assert response.status_code == 200
    assert (await response.get_json())["content"] == "c"


async def test_the_openapi_document_is_valid_openapi_3_1(client):
    document = await (await client.get("/openapi.json")).get_json()
    validate(document)  # raises on the first violation
    chat = document["paths"]["/chat"]["post"]["responses"]
    assert "text/event-stream" in chat["200"]["content"]
    assert chat["5XX"] == chat["4XX"]
    error_schema = chat["4XX"]["content"]["application/json"]["schema"]
    assert error_schema["properties"]["error"] == {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], (method, path)


async def _echoed_id(client: Any, offered: bytes) -> str:
    """The X-Request-ID answered to one offered raw: the test client refuses header values
    that an ASGI server may still pass on, so the scope carries the raw header."""
    raw = [(b"host", b"localhost"), (b"x-request-id", offered)]
    response = await client.get("/health", scope_base={"headers": raw})
    assert response.status_code == 200
    echoed: str = response.headers["X-Request-ID"]
    return echoed


@pytest.mark.parametrize("offered", ["abc\n", "abc\r\n", "\nabc", "a" * 129, ""])
def test_a_request_id_must_match_in_full(offered):
    # Quart itself refuses a header value with a newline today; the check must not rely on it.
    assert not acceptable_request_id(offered)
    assert acceptable_request_id("trace-1")


async def test_a_plain_request_id_is_echoed(client):
    assert await _echoed_id(client, b"trace-1") == "trace-1"


def test_no_secret_in_the_settings_repr():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://app:db-s3cret@db.internal:5432/promptkit",
            "REDIS_URL": "redis://:redis-s3cret@cache:6379/0",
            "PROMPTKIT_METRICS_TOKEN": "metrics-s3cret",
        }
    )
    shown = repr(settings)
    for secret in ("db-s3cret", "redis-s3cret", "metrics-s3cret"):
        assert secret not in shown
        assert secret not in str(settings)
    assert "postgresql://app:***@db.internal:5432/promptkit" in shown
    assert "redis://:***@cache:6379/0" in shown
    assert "metrics_token='***'" in shown
    assert "redis_url=None" in repr(Settings())


async def test_too_many_form_fields_beside_the_file_is_413_about_the_fields(
    make_app, files_env, auth, fake
):
    app = make_app(environ=files_env)
    fields = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'.encode()
        for i in range(40)
    )
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        response = await client.post(
            f"/projects/{project_id}/files",
            data=fields + multipart_head() + b"small" + multipart_tail(),
            headers={**auth("alice"), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
    assert response.status_code == 413
    error = _error(await response.get_json())
    assert error["code"] == "payload_too_large"
    assert "form fields" in error["message"]
    assert "a file may have" not in error["message"]
    assert fake.files == {}


async def test_every_413_has_the_one_code(make_app, auth):
    app = make_app(max_json_bytes=1024)
    async with app.test_app():
        client = app.test_client()
        # Over the JSON limit: Quart's own RequestEntityTooLarge.
        response = await client.post("/projects", json={"name": "x" * 4096}, headers=auth("alice"))
    assert response.status_code == 413
    assert _error(await response.get_json())["code"] == "payload_too_large"


async def test_ready_names_plugins_only_to_a_bearer_of_the_metrics_token(make_app):
    app = make_app(metrics_token="operator-token")
    async with app.test_app():
        client = app.test_client()
        anyone = await client.get("/health/ready")
        stranger = await client.get(
            "/health/ready", headers={"Authorization": "Bearer not-the-token"}
        )
        operator = await client.get(
            "/health/ready", headers={"Authorization": "Bearer operator-token"}
        )
    for response in (anyone, stranger):
        body = await response.get_json()
        assert response.status_code == 200
        assert body["checks"] == {
            "database": "ok",
            "pool": "ok",
            "migrations": "ok",
            "models": "ok",
        }
        assert "plugins" not in json.dumps(body)
    body = await operator.get_json()
    assert body["checks"] == {"database": "ok", "pool": "ok", "migrations": "ok", "models": "ok"}
    names = {plugin["name"]: plugin["version"] for plugin in body["plugins"]}
    assert {"clerk", "openai", "files"} <= set(names)
    assert names["clerk"] == "0.1.0"
