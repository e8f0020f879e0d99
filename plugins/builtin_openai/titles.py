"""A conversation's title from one short, non-streamed chat completion."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from promptkit import ChatMessage

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

MAX_TOKENS = 32
INSTRUCTION = (
    "Write a title of at most six words for the conversation that starts with the user's"
    " message below. Use the message's language. Answer with the title alone: no quotes, no"
    " final full stop."
)
# The start of the conversation is enough to name it, and keeps the request small.
SAID_CHARS = 2000


async def title_of(
    client: openai.AsyncOpenAI, environ: Mapping[str, str], said: list[ChatMessage], model: str
) -> str | None:
    """The model's title, or None when it answers nothing. Raises what the SDK raises."""
    text = "\n\n".join(m.content for m in said if m.role == "user")[:SAID_CHARS]
    completion = await client.with_options(max_retries=0).chat.completions.create(
        model=environ.get("PROMPTKIT_TITLE_MODEL") or model,
        messages=[
            {"role": "system", "content": INSTRUCTION},
            {"role": "user", "content": text},
        ],
        max_tokens=MAX_TOKENS,
        stream=False,
    )
    if completion.usage is not None:
        log.info(
            "named a conversation with %s: %s prompt and %s completion tokens",
            completion.model,
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens,
        )
    choices = completion.choices
    return (choices[0].message.content or None) if choices else None
