"""An offline provider, and the pattern for writing one: register a model, then stream it.

It registers the model `echo` and says plainly that it is not a model: it describes what it
received, word by word. Its registration is `trylast`, so it lists after the real providers and
is the default model only when no other provider registers one (so `make run` chats at once).

A message `/tool NAME {json}` calls the project's tool NAME with that input, so the kernel's
tool loop can be watched with no account; the reply after it quotes the tool's result.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

from promptkit import (
    Capabilities,
    ChatMessage,
    ChatRequest,
    Model,
    StreamEnd,
    ToolCallDelta,
    hookimpl,
)

ECHO = Model(
    id="echo",
    display_name="Echo (offline, not a model)",
    # It reads nothing it is sent, so it takes anything: tools and every attachment type.
    capabilities=Capabilities(streaming=True, tools=True, attachments=("*/*",)),
)


def _attached(message: ChatMessage) -> str:
    """Each attached file by name, media type and size: what the echo "reads" of it."""
    if not message.attachments:
        return ""
    named = ", ".join(
        f"{a.filename} ({a.media_type}, {a.size_bytes} bytes)" for a in message.attachments
    )
    return f" Attached: {named}."


@hookimpl(trylast=True)
def register_models(register: Callable[[Model], None]) -> None:
    register(ECHO)


@hookimpl
def complete_stream(chat: ChatRequest) -> AsyncIterator[str | ToolCallDelta | StreamEnd]:
    # Asked only for `echo`, the model registered above. A plain function returning an async
    # generator (an `async def` generator could never answer None).
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
            + _attached(last)
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


@hookimpl(trylast=True)
def conversation_title(messages: list[ChatMessage]) -> str | None:
    # Offline, like the replies: the first words of what the user said.
    said = next((m.content for m in messages if m.role == "user"), "")
    return " ".join(said.split()[:6]) or None
