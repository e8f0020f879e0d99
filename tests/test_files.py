"""Files: uploads through `store_file` to the OpenAI Files API, against the fake of that API
(`fake_openai_files.py`) and the real `openai` SDK. After every injected failure, each row has
its bytes at the provider and each file at the provider has its row."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
from typing import Any

import pytest
import sqlalchemy as sa
from fake_openai_files import FakeOpenAIFiles
from quart.datastructures import FileStorage
from quart.testing.utils import make_test_body_with_headers

from promptkit import StoredFile, Upload, hookimpl
from promptkit.db.engine import sync_url
from promptkit.db.tables import file_metadata
from promptkit.stored_files import display_name

FILE_KEYS = {
    "id",
    "project_id",
    "filename",
    "size_bytes",
    "content_type",
    "provider_file_id",
    "created_at",
}


FAKE_SERVER = FakeOpenAIFiles  # the `fake` fixture (conftest) starts it


@pytest.fixture
def app_environ(files_env):
    return files_env


@pytest.fixture
def rows(database_url):
    """Every file row in the database, read beside the app, as (provider_file_id, filename)."""

    def read() -> list[tuple[str, str]]:
        engine = sa.create_engine(sync_url(database_url))
        with engine.connect() as connection:
            query = sa.select(file_metadata.c.provider_file_id, file_metadata.c.filename)
            found = [tuple(row) for row in connection.execute(query)]
        engine.dispose()
        return found

    return read


def assert_consistent(fake: FakeOpenAIFiles, rows) -> None:
    """No file at the provider without a row, and no row without a file."""
    assert sorted(fake.files) == sorted(provider_id for provider_id, _ in rows())


async def new_project(client, headers, name="Docs") -> str:
    response = await client.post("/projects", json={"name": name}, headers=headers)
    assert response.status_code == 201
    return (await response.get_json())["id"]


async def upload(client, project_id, headers, data: bytes, filename="notes.txt", **kwargs):
    storage = FileStorage(
        io.BytesIO(data), filename=filename, content_type=kwargs.pop("content_type", "text/plain")
    )
    return await client.post(
        f"/projects/{project_id}/files", files={"file": storage}, headers=headers, **kwargs
    )


async def test_upload_reaches_the_provider_byte_for_byte(client, auth, fake, rows):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    data = os.urandom(3 * 1024 * 1024 + 17)  # over the 1 MiB JSON limit

    response = await upload(client, project_id, alice, data, filename="report.pdf")

    assert response.status_code == 201, await response.get_data()
    body = await response.get_json()
    assert set(body) == FILE_KEYS
    assert body["project_id"] == project_id
    assert body["filename"] == "report.pdf"
    assert body["size_bytes"] == len(data)
    assert body["content_type"] == "text/plain"
    stored = fake.files[body["provider_file_id"]]
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.bytes == len(data)
    assert stored.purpose == "user_data"
    assert stored.filename.endswith("-report.pdf")  # a one-time tag, then the client's name
    assert stored.content_type == "text/plain"
    assert fake.calls == ["upload"]

    read = await client.get(f"/files/{body['id']}", headers=alice)
    assert read.status_code == 200
    assert await read.get_json() == body
    listed = await client.get(f"/projects/{project_id}/files", headers=alice)
    assert (await listed.get_json()) == {"data": [body], "next_cursor": None}
    assert_consistent(fake, rows)


async def test_purpose_is_configurable(make_app, files_env, auth, fake):
    app = make_app(environ={**files_env, "PROMPTKIT_FILES_PURPOSE": "assistants"})
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        response = await upload(client, project_id, auth("alice"), b"hello")
    assert response.status_code == 201
    assert [stored.purpose for stored in fake.files.values()] == ["assistants"]


async def test_list_is_newest_first_paginated_and_per_project(client, auth):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    other_id = await new_project(client, alice, "Other")
    names = [f"f{i}.txt" for i in range(5)]
    for name in names:
        assert (await upload(client, project_id, alice, b"x", filename=name)).status_code == 201
    assert (await upload(client, other_id, alice, b"y")).status_code == 201

    seen, cursor = [], None
    while True:
        url = f"/projects/{project_id}/files?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = await (await client.get(url, headers=alice)).get_json()
        seen += [row["filename"] for row in body["data"]]
        if (cursor := body["next_cursor"]) is None:
            break
    assert seen == list(reversed(names))
    bad = await client.get(f"/projects/{project_id}/files?limit=0", headers=alice)
    assert bad.status_code == 422


async def test_another_users_files_answer_like_missing_ones(client, auth, fake, rows):
    alice, bob = auth("alice"), auth("bob")
    project_id = await new_project(client, alice)
    file_id = (await (await upload(client, project_id, alice, b"secret")).get_json())["id"]

    missing = await client.get("/files/fil_doesnotexist", headers=bob)
    for method, url in [
        ("GET", f"/files/{file_id}"),
        ("DELETE", f"/files/{file_id}"),
        ("GET", f"/projects/{project_id}/files"),
    ]:
        response = await client.open(url, method=method, headers=bob)
        assert response.status_code == 404, (method, url)
        assert (await response.get_json())["error"]["code"] == "not_found"
    assert (await missing.get_json())["error"]["code"] == "not_found"

    calls = list(fake.calls)
    response = await upload(client, project_id, bob, b"intruder")
    assert response.status_code == 404
    assert fake.calls == calls  # nothing reached the provider
    assert len(rows()) == 1
    assert (await client.get(f"/files/{file_id}", headers=alice)).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"json": {"file": "hello"}}, 415),
        ({"data": b"plain bytes", "headers": {"Content-Type": "text/plain"}}, 415),
        ({"files": {}, "form": {"file": "not a file"}}, 422),  # a field, not a file
        ({"files": {"other": FileStorage(io.BytesIO(b"x"), filename="a.txt")}}, 422),
        ({"files": {"file": FileStorage(io.BytesIO(b""), filename="empty.txt")}}, 422),
    ],
)
async def test_bad_uploads_are_4xx_and_touch_nothing(client, auth, fake, rows, body, status):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    headers = {**alice, **body.pop("headers", {})}
    response = await client.post(f"/projects/{project_id}/files", headers=headers, **body)
    assert response.status_code == status
    assert set((await response.get_json())["error"]) >= {"code", "message"}
    assert fake.calls == []
    assert rows() == []


async def test_file_name_is_kept_for_display_never_used_as_a_path(make_app, auth, tmp_path):
    received: list[Upload] = []

    class Recorder:
        @hookimpl(tryfirst=True)
        def store_file(self, upload: Upload) -> StoredFile:
            received.append(upload)
            with open(upload.path, "rb") as spooled:
                assert spooled.read() == b"payload"
            return StoredFile(provider_file_id="rec-1", provider="recorder")

    app = make_app(Recorder())
    async with app.test_app():
        client = app.test_client()
        alice = auth("alice")
        project_id = await new_project(client, alice)
        response = await upload(client, project_id, alice, b"payload", filename="../../etc/passwd")
    assert response.status_code == 201
    assert (await response.get_json())["filename"] == "passwd"
    spooled = received[0].path
    assert "passwd" not in spooled and ".." not in spooled
    assert not os.path.exists(spooled)  # noqa: ASYNC240  (removed once the plugin answered)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("..", "upload"),
        ("", "upload"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
    ],
)
def test_display_name(raw, shown):
    assert display_name(raw) == shown


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},  # refused before storing
        {"status": 400},
        {"drop": True},  # connection cut before storing
        {"status": 500, "after": True},  # stored, then the answer was an error
        {"drop": True, "after": True},  # stored, then the answer was lost
    ],
)
async def test_failed_upload_leaves_nothing_anywhere(client, auth, fake, rows, failure):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    fake.fail("upload", **failure)

    response = await upload(client, project_id, alice, b"data " * 1000)

    assert response.status_code == 502
    error = (await response.get_json())["error"]
    assert error["code"] == "provider_error"
    assert fake.api_key not in error["message"]
    assert fake.calls.count("upload") == 1  # an upload is never retried blindly
    assert fake.files == {}
    assert_consistent(fake, rows)
    # and the next attempt works
    assert (await upload(client, project_id, alice, b"again")).status_code == 201
    assert_consistent(fake, rows)


async def test_lost_upload_that_cannot_be_looked_up_is_logged(client, auth, fake, rows, caplog):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    fake.fail("upload", status=500, after=True)
    fake.fail("list", status=500, times=3)

    response = await upload(client, project_id, alice, b"data")

    assert response.status_code == 502
    assert rows() == []
    [orphan] = fake.files.values()
    assert any(orphan.filename in record.getMessage() for record in caplog.records)


class DeleteProjectFirst:
    """Deletes the project while its upload is under way: the row insert then fails."""

    @hookimpl(tryfirst=True)
    async def store_file(self, project: dict[str, Any], host: Any) -> None:
        engine = sa.create_engine(sync_url(host.settings.database_url))
        with engine.begin() as connection:
            connection.execute(
                sa.text("DELETE FROM projects WHERE id = :id"), {"id": project["id"]}
            )
        engine.dispose()
        return None  # pass: the built-in plugin uploads


async def test_row_insert_failure_deletes_the_upload(make_app, files_env, auth, fake, rows):
    app = make_app(DeleteProjectFirst(), environ=files_env)
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        response = await upload(client, project_id, auth("alice"), b"late")
    assert response.status_code == 404
    assert fake.calls == ["upload", "delete"]
    assert fake.files == {}
    assert rows() == []


async def test_row_insert_and_cleanup_failing_is_logged(make_app, files_env, auth, fake, caplog):
    app = make_app(DeleteProjectFirst(), environ=files_env)
    fake.fail("delete", status=500, times=3)
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        response = await upload(client, project_id, auth("alice"), b"late")
    assert response.status_code == 404
    [orphan] = fake.files
    assert any(
        record.levelno >= logging.ERROR and orphan in record.getMessage()
        for record in caplog.records
    )


async def test_delete_removes_the_file_at_the_provider_then_the_row(client, auth, fake, rows):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    body = await (await upload(client, project_id, alice, b"bye")).get_json()

    response = await client.delete(f"/files/{body['id']}", headers=alice)

    assert response.status_code == 204
    assert fake.files == {}
    assert rows() == []
    assert (await client.get(f"/files/{body['id']}", headers=alice)).status_code == 404
    again = await client.delete(f"/files/{body['id']}", headers=alice)
    assert again.status_code == 404


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"status": 401},
        {"drop": True},
        {"status": 500, "after": True},  # deleted, but the answer said otherwise
    ],
)
async def test_failed_delete_keeps_the_row_and_a_retry_finishes(client, auth, fake, rows, failure):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    body = await (await upload(client, project_id, alice, b"keep")).get_json()
    fake.fail("delete", times=3, **failure)  # the SDK retries a delete twice

    response = await client.delete(f"/files/{body['id']}", headers=alice)

    assert response.status_code == 502
    assert (await response.get_json())["error"]["code"] == "provider_error"
    assert (await client.get(f"/files/{body['id']}", headers=alice)).status_code == 200
    if not failure.get("after"):
        assert_consistent(fake, rows)
    fake.heal()
    retry = await client.delete(f"/files/{body['id']}", headers=alice)
    assert retry.status_code == 204
    assert fake.files == {}
    assert_consistent(fake, rows)


async def test_delete_of_a_file_already_gone_at_the_provider(client, auth, fake, rows):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    body = await (await upload(client, project_id, alice, b"gone")).get_json()
    fake.files.clear()  # deleted by someone else, in the provider's dashboard

    assert (await client.delete(f"/files/{body['id']}", headers=alice)).status_code == 204
    assert rows() == []


async def test_transient_provider_errors_on_delete_are_retried(client, auth, fake, rows):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    body = await (await upload(client, project_id, alice, b"flaky")).get_json()
    fake.fail("delete", status=503, retry=True)

    assert (await client.delete(f"/files/{body['id']}", headers=alice)).status_code == 204
    assert fake.calls == ["upload", "delete", "delete"]
    assert_consistent(fake, rows)


async def test_delete_without_the_store_configured_is_503_and_keeps_the_row(
    make_app, files_env, auth, fake, rows
):
    app = make_app(environ=files_env)
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        body = await (await upload(client, project_id, auth("alice"), b"x")).get_json()
    app = make_app(environ={})
    async with app.test_app():
        response = await app.test_client().delete(f"/files/{body['id']}", headers=auth("alice"))
    assert response.status_code == 503
    assert_consistent(fake, rows)


async def test_project_delete_reaches_the_provider(client, auth, fake, rows):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    keep_id = await new_project(client, alice, "Keep")
    for index in range(3):
        assert (await upload(client, project_id, alice, b"%d" % index)).status_code == 201
    kept = await (await upload(client, keep_id, alice, b"kept")).get_json()

    response = await client.delete(f"/projects/{project_id}", headers=alice)

    assert response.status_code == 204
    assert list(fake.files) == [kept["provider_file_id"]]
    assert_consistent(fake, rows)
    assert (await client.get(f"/projects/{project_id}", headers=alice)).status_code == 404


async def test_project_delete_refuses_while_a_file_cannot_be_deleted(client, auth, fake, rows):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    for index in range(3):
        assert (await upload(client, project_id, alice, b"%d" % index)).status_code == 201
    fake.fail("delete", skip=1, status=500, times=3)  # the first goes; the second fails

    response = await client.delete(f"/projects/{project_id}", headers=alice)

    assert response.status_code == 502
    assert (await response.get_json())["error"]["code"] == "provider_error"
    assert (await client.get(f"/projects/{project_id}", headers=alice)).status_code == 200
    assert len(fake.files) == 2
    assert_consistent(fake, rows)  # the deleted file lost its row, the others kept theirs

    fake.heal()

    assert (await client.delete(f"/projects/{project_id}", headers=alice)).status_code == 204
    assert fake.files == {}
    assert_consistent(fake, rows)


async def test_project_delete_of_another_users_project_is_404(client, auth, fake, rows):
    alice = auth("alice")
    project_id = await new_project(client, alice)
    assert (await upload(client, project_id, alice, b"mine")).status_code == 201
    response = await client.delete(f"/projects/{project_id}", headers=auth("bob"))
    assert response.status_code == 404
    assert len(fake.files) == 1
    assert_consistent(fake, rows)


async def test_client_leaving_mid_upload_leaves_a_file_with_its_row(
    make_app, files_env, auth, fake, rows
):
    """Quart cancels the view when its client goes; the upload still ends with both halves."""
    entered, release = asyncio.Event(), asyncio.Event()

    class Slow:
        @hookimpl(tryfirst=True)
        async def store_file(self) -> None:
            entered.set()
            await release.wait()
            return None  # pass: the built-in plugin uploads

    app = make_app(Slow(), environ=files_env)
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        storage = FileStorage(io.BytesIO(b"abandoned"), filename="a.txt")
        body, headers = make_test_body_with_headers(files={"file": storage})
        connection = client.request(
            f"/projects/{project_id}/files", method="POST", headers={**auth("alice"), **headers}
        )
        async with connection:
            await connection.send(body)
            await connection.send_complete()
            await asyncio.wait_for(entered.wait(), 5)
            await connection.disconnect()
        release.set()
    # the app waited for the upload before it stopped
    assert len(fake.files) == 1
    assert_consistent(fake, rows)


async def test_file_uploaded_while_its_project_is_deleted_goes_too(
    make_app, files_env, auth, fake, rows
):
    """A file that lands while the project's files are being deleted is deleted with them."""
    alice = auth("alice")
    state: dict[str, Any] = {}

    class UploadDuringDelete:
        @hookimpl(tryfirst=True)
        async def delete_stored_file(self) -> None:
            if "late" not in state:
                state["late"] = await upload(state["client"], state["project"], alice, b"late")
            return None  # pass: the built-in plugin deletes

    app = make_app(UploadDuringDelete(), environ=files_env)
    async with app.test_app():
        client = state["client"] = app.test_client()
        project_id = state["project"] = await new_project(client, alice)
        assert (await upload(client, project_id, alice, b"early")).status_code == 201
        response = await client.delete(f"/projects/{project_id}", headers=alice)
    assert state["late"].status_code == 201
    assert response.status_code == 204
    assert fake.files == {}
    assert rows() == []


async def test_an_unknown_purpose_stops_start_up_naming_the_variable(make_app, files_env):
    app = make_app(environ={**files_env, "PROMPTKIT_FILES_PURPOSE": "userdata"})
    with pytest.raises(Exception, match="PROMPTKIT_FILES_PURPOSE") as raised:
        async with app.test_app():
            pass
    assert "files" in str(raised.value)
