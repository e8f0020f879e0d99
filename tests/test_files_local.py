"""The local file store (the embedded default, no account) and `GET /files/{id}/content`, from
the local store and from the OpenAI Files API (its fake, through the real SDK)."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fake_openai_files import FakeOpenAIFiles
from test_files import DeleteProjectFirst, new_project, upload

from promptkit import StoredFile, hookimpl

FAKE_SERVER = FakeOpenAIFiles  # the `fake` fixture (conftest) starts it


def stored_files(app: Any) -> list[str]:
    """The names in the local store's folder, temporary ones included."""
    folder = Path(app.settings.data_dir) / "files"
    return sorted(os.listdir(folder))


async def download(client: Any, file_id: str, headers: dict[str, str]) -> Any:
    return await client.get(f"/files/{file_id}/content", headers=headers)


async def test_embedded_default_stores_and_gives_back_the_bytes(make_app, auth):
    payload = os.urandom(300 * 1024)  # several chunks of the store's reads
    app = make_app()  # no OPENAI_API_KEY: the local store takes uploads
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, alice)
        response = await upload(
            client, project_id, alice, payload, filename="report.bin", content_type="text/html"
        )
        assert response.status_code == 201
        created = await response.get_json()
        got = await download(client, created["id"], alice)
        assert got.status_code == 200
        body = await got.get_data()
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(payload).hexdigest()
        assert got.headers["Content-Type"].startswith("text/html")
        # Whatever its type, it is a download that nothing sniffs or runs.
        assert got.headers["Content-Disposition"] == 'attachment; filename="report.bin"'
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in got.headers["Content-Security-Policy"]
        assert stored_files(app) == [created["provider_file_id"]]


@pytest.mark.parametrize("filename", ["../../etc/passwd", "a\x00b.txt", "/tmp/x"])
async def test_a_client_file_name_never_becomes_a_path(make_app, auth, filename):
    app = make_app()
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, alice)
        response = await upload(client, project_id, alice, b"payload", filename=filename)
        assert response.status_code == 201
        created = await response.get_json()
        [name] = stored_files(app)
    assert name == created["provider_file_id"]
    assert len(name) == 32 and "." not in name and "/" not in name
    assert created["filename"] in ("passwd", "ab.txt", "x")


async def test_a_non_ascii_file_name_is_offered_in_both_forms(make_app, auth):
    app = make_app()
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, alice)
        created = await (
            await upload(client, project_id, alice, b"x", filename="Résumé final.txt")
        ).get_json()
        got = await download(client, created["id"], alice)
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"Resume final.txt\"; filename*=UTF-8''"
        + quote("Résumé final.txt", safe="")
    )


async def test_delete_removes_the_bytes_and_then_the_download_is_404(make_app, auth):
    app = make_app()
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, alice)
        created = await (await upload(client, project_id, alice, b"gone soon")).get_json()
        assert (await client.delete(f"/files/{created['id']}", headers=alice)).status_code == 204
        assert stored_files(app) == []
        assert (await download(client, created["id"], alice)).status_code == 404


async def test_project_delete_removes_its_files_bytes(make_app, auth):
    app = make_app()
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, alice)
        for index in range(3):
            await upload(client, project_id, alice, b"x" * (index + 1), filename=f"{index}.txt")
        assert len(stored_files(app)) == 3
        assert (await client.delete(f"/projects/{project_id}", headers=alice)).status_code == 204
        assert stored_files(app) == []


async def test_another_users_file_is_404_and_gives_nothing(make_app, auth):
    app = make_app()
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        created = await (await upload(client, project_id, auth("alice"), b"secret")).get_json()
        response = await download(client, created["id"], auth("mallory"))
        assert response.status_code == 404
        assert (await response.get_json())["error"]["code"] == "not_found"
        assert b"secret" not in await response.get_data()


async def test_a_failed_row_insert_leaves_no_bytes(make_app, auth):
    app = make_app(DeleteProjectFirst())  # the project goes while the upload is stored
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, alice)
        response = await upload(client, project_id, alice, b"late")
        assert response.status_code == 404
        assert stored_files(app) == []


async def test_without_any_file_store_an_upload_is_503(make_app, auth):
    app = make_app(disabled_plugins=("files",))
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        response = await upload(client, project_id, auth("alice"), b"hello")
    assert response.status_code == 503
    assert "store_file" in (await response.get_json())["error"]["message"]


async def test_a_store_that_cannot_give_bytes_back_answers_409(make_app, auth):
    class WriteOnly:
        @hookimpl(tryfirst=True)
        def store_file(self) -> StoredFile:
            return StoredFile(provider_file_id="w-1", provider="write-only")

    app = make_app(WriteOnly())
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, alice)
        created = await (await upload(client, project_id, alice, b"in")).get_json()
        response = await download(client, created["id"], alice)
    assert response.status_code == 409
    assert "write-only" in (await response.get_json())["error"]["message"]


async def test_openai_store_gives_back_the_bytes(make_app, files_env, auth, fake):
    payload = os.urandom(200 * 1024)
    app = make_app(environ=files_env)
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, alice)
        created = await (await upload(client, project_id, alice, payload)).get_json()
        assert created["provider_file_id"] in fake.files  # OpenAI took it, not the local store
        assert stored_files(app) == []
        got = await download(client, created["id"], alice)
        assert got.status_code == 200
        assert await got.get_data() == payload


@pytest.mark.parametrize(("status", "answer"), [(400, 409), (403, 409), (404, 409), (500, 502)])
async def test_openai_refusing_the_download_is_a_clear_4xx_or_502(
    make_app, files_env, auth, fake, status, answer
):
    app = make_app(environ=files_env)
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, alice)
        created = await (await upload(client, project_id, alice, b"kept upstream")).get_json()
        fake.fail("content", status=status)
        response = await download(client, created["id"], alice)
    assert response.status_code == answer
    body = await response.get_json()
    assert set(body["error"]) >= {"code", "message"}
    assert fake.api_key not in str(body)


async def test_local_files_stay_readable_once_openai_takes_uploads(make_app, files_env, auth, fake):
    alice = auth("alice")
    local_app = make_app()
    async with local_app.test_app():
        client = local_app.test_client()
        project_id = await new_project(client, alice)
        created = await (await upload(client, project_id, alice, b"from before")).get_json()
    openai_app = make_app(environ=files_env)
    async with openai_app.test_app():
        client = openai_app.test_client()
        got = await download(client, created["id"], alice)
        assert await got.get_data() == b"from before"
        assert (await client.delete(f"/files/{created['id']}", headers=alice)).status_code == 204
        assert stored_files(openai_app) == []
        assert fake.calls.count("delete") == 0  # the local store deleted its own file


async def test_files_never_go_in_clear_text_across_the_network(make_app, auth, caplog):
    chat_elsewhere = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://10.1.2.3:8000/v1"}
    app = make_app(environ=chat_elsewhere)
    with caplog.at_level(logging.WARNING):
        async with app.test_app():
            client = app.test_client()
            project_id = await new_project(client, auth("alice"))
            response = await upload(client, project_id, auth("alice"), b"stays here")
            assert response.status_code == 201
            assert len(stored_files(app)) == 1  # kept in the local store instead
    assert any("OPENAI_BASE_URL" in record.getMessage() for record in caplog.records)
    assert not any("sk-test" in record.getMessage() for record in caplog.records)

    asked_by_name = {**chat_elsewhere, "PROMPTKIT_FILES_BASE_URL": "http://files.example/v1"}
    with pytest.raises(Exception, match="PROMPTKIT_FILES_BASE_URL"):
        async with make_app(environ=asked_by_name).test_app():
            pass


async def test_files_have_their_own_key_and_url(make_app, auth, fake):
    environ = {
        "OPENAI_API_KEY": "sk-chat-only",
        "OPENAI_BASE_URL": "http://10.1.2.3:8000/v1",
        "PROMPTKIT_FILES_API_KEY": fake.api_key,
        "PROMPTKIT_FILES_BASE_URL": fake.base_url,
    }
    app = make_app(environ=environ)
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, alice)
        created = await (await upload(client, project_id, alice, b"to the files api")).get_json()
    assert created["provider_file_id"] in fake.files
