"""Upload size limits: PROMPTKIT_MAX_UPLOAD_BYTES decides, not Quart's 16 MB default nor the
1 MiB JSON limit, and an oversize upload answers 413 before its body is read in full."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import socket

import hypercorn.asyncio
import pytest
from fake_openai_files import FakeOpenAIFiles
from hypercorn.config import Config
from quart.datastructures import FileStorage

BOUNDARY = "promptkit-test-boundary"


FAKE_SERVER = FakeOpenAIFiles  # the `fake` fixture (conftest) starts it


async def new_project(client, headers) -> str:
    response = await client.post("/projects", json={"name": "Big"}, headers=headers)
    return (await response.get_json())["id"]


def multipart_head(filename: str = "big.bin") -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def multipart_tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


async def test_over_quarts_16_mb_default_is_accepted(make_app, files_env, auth, fake):
    data = b"0123456789abcdef" * (17 * 1024 * 1024 // 16)  # 17 MiB
    app = make_app(environ=files_env)  # default limit: 512 MiB
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        # The body is built here: the test client's own encoder is quadratic in the file size.
        response = await client.post(
            f"/projects/{project_id}/files",
            data=multipart_head() + data + multipart_tail(),
            headers={**auth("alice"), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
    assert response.status_code == 201, await response.get_data()
    [stored] = fake.files.values()
    assert stored.sha256 == hashlib.sha256(data).hexdigest()


async def test_content_length_over_the_limit_is_413(make_app, files_env, auth, fake):
    app = make_app(environ=files_env, max_upload_bytes=1000)
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        storage = FileStorage(io.BytesIO(b"x" * 100_000), filename="big.bin")
        response = await client.post(
            f"/projects/{project_id}/files", files={"file": storage}, headers=auth("alice")
        )
        # exactly at the limit is fine
        storage = FileStorage(io.BytesIO(b"x" * 1000), filename="max.bin")
        at_limit = await client.post(
            f"/projects/{project_id}/files", files={"file": storage}, headers=auth("alice")
        )
    assert response.status_code == 413
    assert (await response.get_json())["error"]["code"] == "payload_too_large"
    assert at_limit.status_code == 201
    assert fake.calls == ["upload"]


async def test_streamed_body_without_length_stops_at_the_limit(make_app, files_env, auth, fake):
    limit = 200_000
    app = make_app(environ=files_env, max_upload_bytes=limit)
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        headers = {
            **auth("alice"),
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        }
        connection = client.request(f"/projects/{project_id}/files", method="POST", headers=headers)
        async with connection:
            await connection.send(multipart_head())
            for _ in range(40):  # 40 * 64 KiB: far past the limit, and never completed
                await connection.send(b"x" * 65536)
            body = await asyncio.wait_for(connection.receive(), 5)
            await connection.disconnect()
    assert connection.status_code == 413
    assert b"payload_too_large" in body
    assert fake.calls == []


async def test_file_just_over_the_limit_in_a_small_envelope_is_413(make_app, files_env, auth):
    app = make_app(environ=files_env, max_upload_bytes=1000)
    async with app.test_app():
        client = app.test_client()
        project_id = await new_project(client, auth("alice"))
        storage = FileStorage(io.BytesIO(b"x" * 1001), filename="over.bin")
        response = await client.post(
            f"/projects/{project_id}/files", files={"file": storage}, headers=auth("alice")
        )
    assert response.status_code == 413


async def test_json_routes_keep_their_small_limit(make_app, auth):
    app = make_app()
    async with app.test_app():
        client = app.test_client()
        response = await client.post(
            "/projects",
            data=json.dumps({"name": "x" * 2_000_000}),
            headers={
                **auth("alice"),
                "Content-Type": "application/json",
            },
        )
    assert response.status_code == 413


@pytest.fixture
async def served(make_app, files_env):
    """The app behind a real Hypercorn server on loopback; yields its port."""
    app = make_app(environ=files_env, max_upload_bytes=1_000_000)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{listener.detach()}"]  # the server owns and closes it
    config.accesslog = None
    stop = asyncio.Event()
    server = asyncio.ensure_future(hypercorn.asyncio.serve(app, config, shutdown_trigger=stop.wait))
    yield port
    stop.set()
    await server


async def test_server_answers_413_before_the_body_arrives(served, auth, fake):
    """Over real HTTP: a Content-Length over the limit is refused at once, with only the
    headers and a few bytes sent (the rest never comes)."""
    port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    project = await _request(reader, writer, "POST", "/projects", b'{"name": "p"}', auth("alice"))
    project_id = json.loads(project.split(b"\r\n\r\n", 1)[1])["id"]
    headers = {
        **auth("alice"),
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(10 * 1024**3),  # 10 GiB announced
    }
    head = multipart_head() + b"x" * 1000
    answer = await asyncio.wait_for(
        _request(reader, writer, "POST", f"/projects/{project_id}/files", head, headers), 5
    )
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"payload_too_large" in answer
    assert fake.calls == []


async def _request(reader, writer, method, path, body, headers) -> bytes:
    headers = {"Host": "test", "Content-Type": "application/json", **headers}
    headers.setdefault("Content-Length", str(len(body)))
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)
