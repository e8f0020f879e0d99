"""The real Vercel AI SDK (npm `ai`, pinned in tests/node/package.json) consumes POST /chat
over HTTP, exactly as a Next.js page with `useChat` does, and gets the full text."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import aiohttp
import pytest
from fake_openai import Script
from test_chat import upstream_env
from test_chat_disconnect import serving

NODE_DIR = Path(__file__).parent / "node"


async def run_node(*args: str) -> dict:
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "ai").is_dir():
        pytest.fail("the Node test needs node and `npm ci --prefix tests/node` (make test does it)")
    process = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_DIR / "chat.mjs"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout)


async def test_the_ai_sdk_reads_the_whole_reply(make_app, auth, fake):
    fake.default = Script(tokens=["Hello", ", ", "world", " from", " upstream"], delay=0.01)
    app = make_app(environ=upstream_env(fake))
    alice = auth("alice")
    async with serving(app) as url, aiohttp.ClientSession(headers=alice) as http:
        async with http.post(f"{url}/projects", json={"name": "P"}) as response:
            project = await response.json()
        async with http.post(f"{url}/projects/{project['id']}/conversations", json={}) as response:
            conversation = (await response.json())["id"]

        result = await run_node(f"{url}/chat", alice["Authorization"], conversation, "Hi there")

        async with http.get(f"{url}/conversations/{conversation}/messages") as response:
            stored = (await response.json())["data"]

    assert result["errors"] == []
    message = result["message"]
    texts = [part for part in message["parts"] if part["type"] == "text"]
    assert texts == [{"type": "text", "text": "Hello, world from upstream", "state": "done"}]
    assert message["id"] == stored[1]["id"]
    assert message["metadata"]["assistant_message_id"] == stored[1]["id"]
    assert message["metadata"]["user_message_id"] == stored[0]["id"]
    assert message["metadata"]["usage"] == {"prompt_tokens": 2, "completion_tokens": 5}
    assert fake.last.body["messages"] == [{"role": "user", "content": "Hi there"}]


async def test_the_ai_sdk_reports_a_provider_failure(make_app, auth, fake):
    fake.default = Script(status=401)
    app = make_app(environ=upstream_env(fake))
    alice = auth("alice")
    async with serving(app) as url, aiohttp.ClientSession(headers=alice) as http:
        async with http.post(f"{url}/projects", json={"name": "P"}) as response:
            project = await response.json()
        async with http.post(f"{url}/projects/{project['id']}/conversations", json={}) as response:
            conversation = (await response.json())["id"]
        result = await run_node(f"{url}/chat", alice["Authorization"], conversation, "Hi")
    assert result["errors"] == ["Error: the model provider rejected the API key"]


async def test_the_ai_sdk_edit_stores_a_new_version_answered_from_its_branch(make_app, auth, fake):
    """useChat's `sendMessage({text, messageId})`, through the real `ai` transport."""
    fake.queue(Script(reply="first"), Script(reply="second"), Script(reply="edited"))
    app = make_app(environ=upstream_env(fake))
    alice = auth("alice")
    async with serving(app) as url, aiohttp.ClientSession(headers=alice) as http:
        async with http.post(f"{url}/projects", json={"name": "P"}) as response:
            project = await response.json()
        async with http.post(f"{url}/projects/{project['id']}/conversations", json={}) as response:
            conversation = (await response.json())["id"]
        chat_url, token = f"{url}/chat", alice["Authorization"]
        await run_node(chat_url, token, conversation, "q1")
        await run_node(chat_url, token, conversation, "q2")
        async with http.get(f"{url}/conversations/{conversation}/messages") as response:
            before = (await response.json())["data"]

        result = await run_node(chat_url, token, conversation, "Q2", before[2]["id"])

        async with http.get(f"{url}/conversations/{conversation}/messages") as response:
            after = (await response.json())["data"]

    assert result["errors"] == []
    assert fake.last.body["messages"] == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "first"},
        {"role": "user", "content": "Q2"},
    ]
    assert [(m["content"], m["branch"]) for m in after[2:]] == [
        ("Q2", {"index": 2, "count": 2}),
        ("edited", {"index": 1, "count": 1}),
    ]
    assert after[2]["parent_id"] == before[1]["id"]
