"""Files attached to a chat: what the provider is sent for each media type (the OpenAI plugin
through the real SDK against the fake upstream, files in the local store), what is stored, and
every refusal made before anything is stored or sent."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from fake_openai import FakeOpenAI
from test_chat import history, send, text_of
from test_files import upload

from promptkit import StoredFile, Upload, hookimpl

PDF = b"%PDF-1.4\n" + os.urandom(200 * 1024) + b"\n%%EOF"  # several chunks of the store's reads
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(70 * 1024)
MODELS = "gpt-4o,llama-3-8b"  # llama-3-8b reads text files only


@pytest.fixture
def app_environ(fake: FakeOpenAI) -> dict[str, str]:
    # A base URL without a key: chat goes to the fake, uploads to the local store.
    return {"OPENAI_BASE_URL": fake.base_url, "PROMPTKIT_OPENAI_MODELS": MODELS}


async def new_chat(client: Any, headers: dict[str, str]) -> tuple[str, str]:
    """A project and a conversation in it: (project id, conversation id)."""
    project = await (await client.post("/projects", json={"name": "P"}, headers=headers)).get_json()
    response = await client.post(
        f"/projects/{project['id']}/conversations", json={}, headers=headers
    )
    return project["id"], (await response.get_json())["id"]


async def uploaded(
    client: Any, project_id: str, headers: dict[str, str], data: bytes, name: str, kind: str
) -> str:
    response = await upload(client, project_id, headers, data, filename=name, content_type=kind)
    assert response.status_code == 201, await response.get_json()
    return str((await response.get_json())["id"])


def user_content(fake: FakeOpenAI, index: int = -1) -> Any:
    """The content of the last upstream request's user message (`index` among user messages)."""
    return [m for m in fake.last.body["messages"] if m["role"] == "user"][index]["content"]


def data_url(kind: str, data: bytes) -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


async def test_each_media_type_goes_upstream_as_its_content_part(client, auth, fake):
    alice = auth("alice")
    project_id, conversation_id = await new_chat(client, alice)
    ids = [
        await uploaded(client, project_id, alice, b"# Notes\nhello", "notes.md", "text/markdown"),
        await uploaded(client, project_id, alice, b"a,b\n1,2\n", "data.csv", "text/csv"),
        await uploaded(client, project_id, alice, PNG, "photo.png", "image/png"),
        await uploaded(client, project_id, alice, PDF, "report.pdf", "application/pdf"),
    ]
    body = {
        "conversation_id": conversation_id,
        "message": "Read these",
        "file_ids": ids,
        "model": "gpt-4o",
    }
    response, events = await send(client, alice, body)
    assert response.status_code == 200
    assert events[-1] == "[DONE]"
    assert user_content(fake) == [
        {"type": "text", "text": "Read these"},
        {"type": "text", "text": "File notes.md (text/markdown):\n# Notes\nhello"},
        {"type": "text", "text": "File data.csv (text/csv):\na,b\n1,2\n"},
        {"type": "image_url", "image_url": {"url": data_url("image/png", PNG)}},
        {
            "type": "file",
            "file": {"filename": "report.pdf", "file_data": data_url("application/pdf", PDF)},
        },
    ]
    # The stored user message keeps its files as `file` parts that open through their URL.
    stored = (await history(client, alice, conversation_id))[0]
    assert stored["parts"][0] == {"type": "text", "text": "Read these"}
    assert [(p["type"], p["filename"], p["mediaType"], p["url"]) for p in stored["parts"][1:]] == [
        ("file", "notes.md", "text/markdown", f"/files/{ids[0]}/content"),
        ("file", "data.csv", "text/csv", f"/files/{ids[1]}/content"),
        ("file", "photo.png", "image/png", f"/files/{ids[2]}/content"),
        ("file", "report.pdf", "application/pdf", f"/files/{ids[3]}/content"),
    ]
    got = await client.get(stored["parts"][3]["url"], headers=alice)
    assert await got.get_data() == PNG

    # The next turn's history carries them again; the new message has none.
    body = {"conversation_id": conversation_id, "message": "And now?", "model": "gpt-4o"}
    response, _ = await send(client, alice, body)
    assert response.status_code == 200
    first, last = user_content(fake, 0), user_content(fake, -1)
    assert first[3] == {"type": "image_url", "image_url": {"url": data_url("image/png", PNG)}}
    assert len(first) == 5
    assert last == "And now?"


class OpenAIStored:
    """A store that answers as if OpenAI Files held the file (no bytes go anywhere)."""

    @hookimpl(tryfirst=True)
    def store_file(self, upload: Upload) -> StoredFile:
        return StoredFile(provider_file_id="file-abc123", provider="openai")


async def test_a_pdf_in_the_openai_store_of_the_same_server_goes_by_its_file_id(
    make_app, auth, fake
):
    environ = {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-x",
        "PROMPTKIT_OPENAI_MODELS": MODELS,
    }
    app = make_app(OpenAIStored(), environ=environ)
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id, conversation_id = await new_chat(client, alice)
        file_id = await uploaded(client, project_id, alice, PDF, "report.pdf", "application/pdf")
        body = {"conversation_id": conversation_id, "message": "Sum up", "file_ids": [file_id]}
        response, _ = await send(client, alice, {**body, "model": "gpt-4o"})
        assert response.status_code == 200
    assert user_content(fake)[1] == {"type": "file", "file": {"file_id": "file-abc123"}}


async def test_a_file_the_model_cannot_read_is_refused_before_anything_is_stored(
    client, auth, fake
):
    alice = auth("alice")
    project_id, conversation_id = await new_chat(client, alice)
    text_id = await uploaded(client, project_id, alice, b"fine", "ok.txt", "text/plain")
    image_id = await uploaded(client, project_id, alice, PNG, "photo.png", "image/png")
    body = {
        "conversation_id": conversation_id,
        "message": "Look",
        "file_ids": [text_id, image_id],
        "model": "llama-3-8b",
    }
    response = await client.post("/chat", json=body, headers=alice)
    assert response.status_code == 422
    error = (await response.get_json())["error"]
    assert error["code"] == "unsupported_attachment"
    assert "photo.png" in error["message"] and "llama-3-8b" in error["message"]
    assert await history(client, alice, conversation_id) == []
    assert fake.received == []
    # A text file it reads.
    response, _ = await send(client, alice, {**body, "file_ids": [text_id]})
    assert response.status_code == 200
    assert user_content(fake)[1] == {"type": "text", "text": "File ok.txt (text/plain):\nfine"}


async def test_another_tenants_file_answers_404_and_nothing_is_stored_or_sent(client, auth, fake):
    alice, mallory = auth("alice"), auth("mallory")
    alice_project, _ = await new_chat(client, alice)
    secret = await uploaded(client, alice_project, alice, b"secret", "secret.txt", "text/plain")
    _, conversation_id = await new_chat(client, mallory)
    own_elsewhere_project, _ = await new_chat(client, mallory)
    elsewhere = await uploaded(client, own_elsewhere_project, mallory, b"x", "x.txt", "text/plain")
    for file_id in (secret, elsewhere, "fil_doesnotexist"):
        for body in (
            {"conversation_id": conversation_id, "message": "Hi", "file_ids": [file_id]},
            {
                "id": conversation_id,
                "messages": [
                    {
                        "role": "user",
                        "parts": [
                            {"type": "text", "text": "Hi"},
                            {
                                "type": "file",
                                "mediaType": "text/plain",
                                "url": f"/files/{file_id}/content",
                            },
                        ],
                    }
                ],
            },
        ):
            response = await client.post("/chat", json=body, headers=mallory)
            assert response.status_code == 404, file_id
            error = (await response.get_json())["error"]
            assert error["code"] == "not_found"
            assert error["message"] == f"file {file_id!r} not found"
    assert await history(client, mallory, conversation_id) == []
    assert fake.received == []
    # Alice's file is untouched and still hers alone.
    assert (await client.get(f"/files/{secret}", headers=alice)).status_code == 200
    assert (await client.get(f"/files/{secret}", headers=mallory)).status_code == 404


async def test_use_chat_file_parts_with_a_data_url_are_stored_first(client, auth, fake):
    alice = auth("alice")
    project_id, conversation_id = await new_chat(client, alice)
    already = await uploaded(client, project_id, alice, b"a,b\n", "t.csv", "text/csv")
    body = {
        "id": conversation_id,
        "model": "gpt-4o",
        "messages": [
            {
                "role": "user",
                "parts": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "file",
                        "mediaType": "image/png",
                        "filename": "shot.png",
                        "url": data_url("image/png", PNG),
                    },
                    # A promptkit file URL as the example's proxy gives it.
                    {
                        "type": "file",
                        "mediaType": "text/csv",
                        "url": f"/api/promptkit/files/{already}/content",
                    },
                ],
            }
        ],
    }
    response, events = await send(client, alice, body)
    assert response.status_code == 200, events
    listed = (await (await client.get(f"/projects/{project_id}/files", headers=alice)).get_json())[
        "data"
    ]
    inline = next(f for f in listed if f["filename"] == "shot.png")
    assert (inline["content_type"], inline["size_bytes"]) == ("image/png", len(PNG))
    downloaded = await client.get(f"/files/{inline['id']}/content", headers=alice)
    assert await downloaded.get_data() == PNG
    assert user_content(fake)[1:] == [
        {"type": "image_url", "image_url": {"url": data_url("image/png", PNG)}},
        {"type": "text", "text": "File t.csv (text/csv):\na,b\n"},
    ]
    [stored] = [m for m in await history(client, alice, conversation_id) if m["role"] == "user"]
    assert [p.get("url") for p in stored["parts"]] == [
        None,
        f"/files/{inline['id']}/content",
        f"/files/{already}/content",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a.png",
        "data:image/png;base64,@@@",
        "data:image/png;base64,",
        "data:nonsense,x",
    ],
)
async def test_a_file_part_that_is_not_a_file_is_a_422(client, auth, fake, url):
    alice = auth("alice")
    _, conversation_id = await new_chat(client, alice)
    part = {"type": "file", "mediaType": "image/png", "url": url}
    if url == "data:nonsense,x":
        part.pop("mediaType")
    body = {
        "id": conversation_id,
        "messages": [{"role": "user", "parts": [{"type": "text", "text": "x"}, part]}],
    }
    response = await client.post("/chat", json=body, headers=alice)
    assert response.status_code == 422
    assert (await response.get_json())["error"]["code"] == "validation_error"
    assert await history(client, alice, conversation_id) == []
    assert fake.received == []


async def test_more_attachments_than_allowed_is_a_422(make_app, auth, fake, app_environ):
    app = make_app(environ=app_environ, max_attachments=2)
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id, conversation_id = await new_chat(client, alice)
        ids = [
            await uploaded(client, project_id, alice, b"x", f"{n}.txt", "text/plain")
            for n in range(3)
        ]
        body = {"conversation_id": conversation_id, "message": "Hi", "file_ids": ids}
        response = await client.post("/chat", json=body, headers=alice)
        assert response.status_code == 422
        error = (await response.get_json())["error"]
        assert "at most 2 attachments" in error["message"]
        assert await history(client, alice, conversation_id) == []
        response, _ = await send(client, alice, {**body, "file_ids": ids[:2]})
        assert response.status_code == 200
    assert len(fake.received) == 1


async def test_text_files_count_in_the_context_budget(make_app, auth, fake, app_environ):
    app = make_app(environ=app_environ, context_budget_chars=300)
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id, conversation_id = await new_chat(client, alice)
        big = await uploaded(client, project_id, alice, b"x" * 400, "big.txt", "text/plain")
        small = await uploaded(client, project_id, alice, b"y" * 200, "small.txt", "text/plain")
        body = {"conversation_id": conversation_id, "message": "Hi", "file_ids": [big]}
        response = await client.post("/chat", json=body, headers=alice)
        assert response.status_code == 422
        assert "context budget" in (await response.get_json())["error"]["message"]
        assert fake.received == []
        # One that fits goes; the next turn's history drops it (and its question) to fit.
        response, _ = await send(client, alice, {**body, "file_ids": [small]})
        assert response.status_code == 200
        response, _ = await send(client, alice, {**body, "message": "z" * 150, "file_ids": []})
        assert response.status_code == 200
    users = [m for m in fake.last.body["messages"] if m["role"] == "user"]
    assert users == [{"role": "user", "content": "z" * 150}]


async def test_the_echo_provider_names_each_attachment(make_app, auth):
    app = make_app()  # no provider configured: echo answers, uploads go to the local store
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        project_id, conversation_id = await new_chat(client, alice)
        file_id = await uploaded(
            client, project_id, alice, b"hello there", "notes.txt", "text/plain"
        )
        body = {"conversation_id": conversation_id, "message": "Read it", "file_ids": [file_id]}
        response, events = await send(client, alice, body)
        assert response.status_code == 200
        assert "Attached: notes.txt (text/plain, 11 bytes)." in text_of(events)
        # Regenerating keeps the files of the message it answers again.
        response, events = await send(
            client, alice, {"conversation_id": conversation_id, "trigger": "regenerate-message"}
        )
        assert "Attached: notes.txt (text/plain, 11 bytes)." in text_of(events)


async def test_in_an_organization_a_member_attaches_its_files_but_uploads_none(
    client, clerk_signing_key, fake
):
    """A member may use the organization project's files in their chats; a `data:` URL is an
    upload, an admin's (403, nothing stored); another organization's file is a 404."""
    from promptkit_clerk.local import mint_session_token

    def member_of(org: str, user: str, role: str) -> dict[str, str]:
        token = mint_session_token(clerk_signing_key, user, org_id=org, org_role=role)
        return {"Authorization": f"Bearer {token}"}

    admin, member = member_of("org_a", "ann", "org:admin"), member_of("org_a", "mo", "org:member")
    outsider = member_of("org_b", "bo", "org:admin")
    project = await (await client.post("/projects", json={"name": "P"}, headers=admin)).get_json()
    notes = await uploaded(client, project["id"], admin, b"team notes", "notes.txt", "text/plain")
    conversation = await (
        await client.post(f"/projects/{project['id']}/conversations", json={}, headers=member)
    ).get_json()
    body = {"conversation_id": conversation["id"], "message": "Read", "file_ids": [notes]}
    response, _ = await send(client, member, body)
    assert response.status_code == 200
    assert {"type": "text", "text": "File notes.txt (text/plain):\nteam notes"} in user_content(
        fake
    )

    sent = len(fake.received)
    inline = {
        "id": conversation["id"],
        "messages": [
            {
                "role": "user",
                "parts": [
                    {"type": "text", "text": "And this"},
                    {
                        "type": "file",
                        "mediaType": "text/plain",
                        "filename": "mine.txt",
                        "url": data_url("text/plain", b"mine"),
                    },
                ],
            }
        ],
    }
    response = await client.post("/chat", json=inline, headers=member)
    assert response.status_code == 403, await response.get_data()
    assert (await response.get_json())["error"]["code"] == "forbidden"

    theirs = await (await client.post("/projects", json={"name": "B"}, headers=outsider)).get_json()
    other = await uploaded(client, theirs["id"], outsider, b"secret", "b.txt", "text/plain")
    body = {"conversation_id": conversation["id"], "message": "Peek", "file_ids": [other]}
    response, _ = await send(client, member, body)
    assert response.status_code == 404
    assert len(fake.received) == sent  # neither refusal reached the provider
    files = await (await client.get(f"/projects/{project['id']}/files", headers=admin)).get_json()
    assert [row["id"] for row in files["data"]] == [notes]  # the refused upload stored nothing
    assert len(await history(client, member, conversation["id"])) == 2  # only the first turn
