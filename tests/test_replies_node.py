"""The real Vercel AI SDK resumes a reply in flight: `DefaultChatTransport.reconnectToStream`
(what `useChat({resume: true})` calls on mount) gets the reply replayed from its start, and
null when nothing is in flight (204)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fake_openai import Script
from test_chat import upstream_env
from test_chat_disconnect import serving

NODE_DIR = Path(__file__).parent / "node"
TOKENS = [f" r{i}" for i in range(30)]


async def resume_with_node(*args: str) -> dict[str, Any]:
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "ai").is_dir():
        pytest.fail("the Node test needs node and `npm ci --prefix tests/node` (make test does it)")
    process = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_DIR / "resume.mjs"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    result: dict[str, Any] = json.loads(stdout)
    return result


async def test_reconnect_to_stream_replays_the_reply_and_is_null_on_204(make_app, auth, fake):
    fake.default = Script(tokens=TOKENS, delay=0.05)
    app = make_app(environ=upstream_env(fake), resumable=True)
    alice = auth("alice")
    async with serving(app) as url, aiohttp.ClientSession(headers=alice) as http:
        async with http.post(f"{url}/projects", json={"name": "P"}) as response:
            project = await response.json()
        async with http.post(f"{url}/projects/{project['id']}/conversations", json={}) as response:
            conversation = (await response.json())["id"]
        nothing = await resume_with_node(f"{url}/chat", alice["Authorization"], conversation)

        body = {"conversation_id": conversation, "message": "count"}
        async with http.post(f"{url}/chat", json=body) as response:
            await response.content.readuntil(b'"text-delta"')
            response.close()  # the page is reloaded mid-reply
        result = await resume_with_node(f"{url}/chat", alice["Authorization"], conversation)

        async with http.get(f"{url}/conversations/{conversation}/messages") as response:
            stored = (await response.json())["data"]

    assert nothing == {"resumed": False}
    assert result["resumed"] is True and result["errors"] == []
    message = result["message"]
    texts = [part for part in message["parts"] if part["type"] == "text"]
    assert texts == [{"type": "text", "text": "".join(TOKENS), "state": "done"}]
    assert message["id"] == stored[1]["id"]
    assert stored[1]["status"] == "complete" and stored[1]["content"] == "".join(TOKENS)
    assert message["metadata"]["assistant_message_id"] == stored[1]["id"]
