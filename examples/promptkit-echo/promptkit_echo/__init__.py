"""An offline `complete_stream` provider, and the pattern for writing one.

It answers any model when no other provider claims the chat (it is `trylast`), and says
plainly that it is not a model: it describes what it received, word by word.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from promptkit import ChatMessage, ChatRequest, StreamEnd, hookimpl


@hookimpl(trylast=True)
def complete_stream(chat: ChatRequest) -> AsyncIterator[str | StreamEnd]:
    # A plain function returning an async generator: returning None would pass to another plugin.
    return _reply(chat)


async def _reply(chat: ChatRequest) -> AsyncIterator[str | StreamEnd]:
    system = next((m.content for m in chat.messages if m.role == "system"), None)
    last = chat.messages[-1].content
    text = (
        "I am promptkit's offline echo provider, not a language model. "
        f"I received {len(chat.messages)} message(s) for model {chat.model!r}"
        + (f", with the system prompt {system!r}" if system else ", with no system prompt")
        + f". Your last message was: {last}"
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
