"""Reading the UI message stream (Server-Sent Events) that `POST /chat` answers."""

from __future__ import annotations

import json
from typing import Any

DONE = "[DONE]"


def read_ui_message_stream(body: bytes | str) -> list[dict[str, Any]]:
    """The parts of a complete stream, in order, without the final `data: [DONE]`.

    Raises AssertionError when the stream does not end with `data: [DONE]` exactly once, or a
    `data:` line is not JSON: both are bugs a plugin's test should see.
    """
    text = body.decode() if isinstance(body, bytes) else body
    payloads = [
        line[len("data:") :].strip() for line in text.splitlines() if line.startswith("data:")
    ]
    assert payloads.count(DONE) == 1 and payloads[-1] == DONE, "no single final data: [DONE]"
    return [json.loads(payload) for payload in payloads[:-1]]


def text_of(parts: list[dict[str, Any]]) -> str:
    """The reply's text: every `text-delta` joined."""
    return "".join(part["delta"] for part in parts if part.get("type") == "text-delta")


async def chat(
    client: Any, headers: dict[str, str], message: str, **body: Any
) -> list[dict[str, Any]]:
    """Make a project and a conversation for the caller (unless `conversation_id` is given),
    send `message` to `POST /chat` and return the stream's parts."""
    if "conversation_id" not in body:
        project = await client.post("/projects", json={"name": "Test"}, headers=headers)
        assert project.status_code == 201, await project.get_data()
        project_id = (await project.get_json())["id"]
        conversation = await client.post(
            f"/projects/{project_id}/conversations", json={}, headers=headers
        )
        assert conversation.status_code == 201, await conversation.get_data()
        body["conversation_id"] = (await conversation.get_json())["id"]
    response = await client.post("/chat", json={**body, "message": message}, headers=headers)
    assert response.status_code == 200, await response.get_data()
    return read_ui_message_stream(await response.get_data())
