"""An offline `complete_stream` provider, and the pattern for writing one.

It answers any model when no other provider claims the chat (it is `trylast`), and says
plainly that it is not a model: it describes what it received, word by word.

A message `/tool NAME {json}` calls the project's tool NAME with that input, so the kernel's
tool loop can be watched with no account; the reply after it quotes the tool's result.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from promptkit import ChatRequest, StreamEnd, ToolCallDelta, hookimpl


@hookimpl(trylast=True)
def complete_stream(chat: ChatRequest) -> AsyncIterator[str | ToolCallDelta | StreamEnd]:
    # A plain function returning an async generator: returning None would pass to another plugin.
    return _reply(chat)


async def _reply(chat: ChatRequest) -> AsyncIterator[str | ToolCallDelta | StreamEnd]:
    last = chat.messages[-1]
    if last.role == "user" and last.content.startswith("/tool "):
        name, _, arguments = last.content.removeprefix("/tool ").strip().partition(" ")
        if any(tool.name == name for tool in chat.tools):
            yield ToolCallDelta(f"call_{uuid.uuid4().hex[:12]}", arguments.strip() or "{}", name)
            yield StreamEnd(finish_reason="tool-calls", model="echo")
            return
        text = f"The project has no tool named {name!r} enabled."
    elif last.role == "tool":
        text = f"The tool returned: {last.content}"
    else:
        system = next((m.content for m in chat.messages if m.role == "system"), None)
        text = (
            "I am promptkit's offline echo provider, not a language model. "
            f"I received {len(chat.messages)} message(s) for model {chat.model!r}"
            + (f", with the system prompt {system!r}" if system else ", with no system prompt")
            + f". Your last message was: {last.content}"
        )
    words = text.split(" ")
    for index, word in enumerate(words):
        await asyncio.sleep(0.02)  # paced like a model, so streaming is visible
        yield word if index == 0 else " " + word
    yield StreamEnd(
        finish_reason="stop",
        model="echo",
        usage={
            "prompt_tokens": sum(len(m.content.split()) for m in chat.messages),
            "completion_tokens": len(words),
        },
    )
