"""Graceful shutdown on a real `promptkit serve` process, SIGTERM in the middle of a stream.

A stream that ends within the grace period ends normally and is stored `complete`; one that
does not is told to stop when the grace period is over: it ends as a failed reply does (an
`error` part, then `data: [DONE]`) and what it had produced is stored `partial`. Neither
shutdown logs an error.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from test_production_support import Server, StartServer


def new_conversation(server: Server, headers: dict[str, str]) -> str:
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        project = client.post("/projects", json={"name": "shutdown"}).json()["id"]
        conversation: str = client.post(f"/projects/{project}/conversations", json={}).json()["id"]
    return conversation


async def sse_parts(response: httpx.Response) -> AsyncIterator[dict[str, Any] | str]:
    """The `data:` payloads of a UI message stream: JSON objects, and the final "[DONE]"."""
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            yield payload if payload == "[DONE]" else json.loads(payload)


async def stream_then_sigterm(
    server: Server, headers: dict[str, str], conversation: str, deltas_before: int
) -> tuple[list[dict[str, Any] | str], bool]:
    """Stream a reply; after `deltas_before` deltas send SIGTERM and try a new request.

    Returns every part the client received, and whether the new request was refused.
    """
    received: list[dict[str, Any] | str] = []
    refused = False
    async with httpx.AsyncClient(timeout=60) as client:
        body = {"conversation_id": conversation, "message": "count slowly"}
        async with client.stream("POST", f"{server.url}/chat", json=body, headers=headers) as reply:
            assert reply.status_code == 200
            try:
                async for item in sse_parts(reply):
                    received.append(item)
                    deltas = [
                        p for p in received if isinstance(p, dict) and p["type"] == "text-delta"
                    ]
                    if len(deltas) == deltas_before and item is deltas[-1]:
                        server.sigterm()
                        refused = await not_served(f"{server.url}/health")
            except httpx.TransportError:
                pass  # the server cut the stream: the tests below say whether it may
    return received, refused


def errors_logged(server: Server) -> list[str]:
    """The log lines at level ERROR or above (JSON lines; anything else is the banner)."""
    found = []
    for line in server.output().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("level") in ("ERROR", "CRITICAL"):
            found.append(line)
    return found


async def not_served(url: str) -> bool:
    """Once SIGTERM has reached the workers (they look every 0.1 s), is a new request refused?

    Refused outright by one process; with several, the parent still holds the listening socket,
    so the connection may be queued but is never answered.
    """
    await asyncio.sleep(0.3)
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            await client.get(url)
    except httpx.TransportError:
        return True
    return False


async def stored_messages(server: Server, headers: dict[str, str], conversation: str) -> Any:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(
            f"{server.url}/conversations/{conversation}/messages", headers=headers
        )
    assert response.status_code == 200
    return response.json()["data"]


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_mid_stream_past_the_grace_period_leaves_a_partial_message(
    start_server: StartServer, workers: int
) -> None:
    slow = {
        "TEST_TOKEN_COUNT": "200",
        "TEST_TOKEN_DELAY": "0.05",
        "PROMPTKIT_GRACEFUL_TIMEOUT": "1",
    }
    headers = {"Authorization": f"Bearer test:sigterm-{secrets.token_hex(6)}"}
    server = start_server(workers, **slow)
    conversation = new_conversation(server, headers)

    received, refused = await stream_then_sigterm(server, headers, conversation, deltas_before=3)

    assert server.terminate() == 0, server.output()
    # The 10 s reply was stopped after the 1 s grace period, as a failed reply ends.
    assert received[-2:] == [
        {"type": "error", "errorText": "the server is shutting down: send the message again"},
        "[DONE]",
    ]
    streamed = "".join(p["delta"] for p in received if isinstance(p, dict) and "delta" in p)
    assert streamed.startswith("tok0 tok1 tok2 ")
    assert len(streamed.split()) < 200
    assert refused  # no new connection once SIGTERM arrived
    assert errors_logged(server) == []

    # A new process on the same database: nothing was lost, and the conversation is free.
    after = start_server(**{**slow, "TEST_TOKEN_COUNT": "2"})
    stored = await stored_messages(after, headers, conversation)
    assert len(stored) == 2, server.output()
    user, assistant = stored
    assert (user["role"], user["content"], user["status"]) == ("user", "count slowly", "complete")
    assert assistant["role"] == "assistant" and assistant["status"] == "partial"
    assert assistant["content"] == streamed  # exactly what the client saw
    async with httpx.AsyncClient(timeout=30) as client:
        again = await client.post(
            f"{after.url}/chat",
            json={"conversation_id": conversation, "message": "again"},
            headers=headers,
        )
    assert again.status_code == 200  # the lease was released: no 409


async def test_sigterm_mid_stream_within_the_grace_period_lets_it_finish(
    start_server: StartServer,
) -> None:
    quick = {
        "TEST_TOKEN_COUNT": "20",
        "TEST_TOKEN_DELAY": "0.05",
        "PROMPTKIT_GRACEFUL_TIMEOUT": "15",
    }
    headers = {"Authorization": f"Bearer test:drain-{secrets.token_hex(6)}"}
    server = start_server(**quick)
    conversation = new_conversation(server, headers)

    received, refused = await stream_then_sigterm(server, headers, conversation, deltas_before=2)

    assert received[-1] == "[DONE]"
    assert received[-2] == {"type": "finish", "finishReason": "stop"}
    assert refused
    assert server.terminate() == 0, server.output()
    assert errors_logged(server) == []
    after = start_server(**quick)
    _, assistant = await stored_messages(after, headers, conversation)
    assert assistant["status"] == "complete"
    assert assistant["content"] == "".join(f"tok{index} " for index in range(20))
