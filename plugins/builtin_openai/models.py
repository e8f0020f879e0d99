"""Which models the OpenAI plugin registers, and what each can do.

`PROMPTKIT_OPENAI_MODELS` when set: comma-separated ids, or a JSON list of objects that declare
more or less per model (`[{"id": "llava", "attachments": ["image/png"], "tools": false}]`).
Otherwise the upstream's own `GET /v1/models`, so a vLLM or Ollama server behind
`OPENAI_BASE_URL` shows its models. OpenAI's own families get what they are known to do; any
other id is taken to stream text and accept tools (what Chat Completions offers by default).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from promptkit import Capabilities, Model, ProviderError

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

LIST_TIMEOUT_SECONDS = 10.0
# Text files go to a model as text (see `attachments`): every chat model reads them.
TEXT = (
    "text/*", "application/json", "application/xml", "application/yaml", "application/x-yaml",
    "application/toml", "application/javascript", "application/x-sh", "application/sql",
)  # fmt: skip
IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")
IMAGES_AND_PDF = (*IMAGES, "application/pdf", *TEXT)

# id prefix -> capabilities and context window; the longest matching prefix wins.
FAMILIES: dict[str, tuple[Capabilities, int | None]] = {
    "gpt-4o": (Capabilities(tools=True, attachments=IMAGES_AND_PDF), 128_000),
    "gpt-4.1": (Capabilities(tools=True, attachments=IMAGES_AND_PDF), 1_047_576),
    "gpt-5": (Capabilities(tools=True, attachments=IMAGES_AND_PDF, reasoning=True), 400_000),
    "o1": (Capabilities(tools=True, attachments=IMAGES_AND_PDF, reasoning=True), 200_000),
    "o1-mini": (Capabilities(attachments=TEXT, reasoning=True), 128_000),
    "o3": (Capabilities(tools=True, attachments=IMAGES_AND_PDF, reasoning=True), 200_000),
    "o3-mini": (Capabilities(tools=True, attachments=TEXT, reasoning=True), 200_000),
    "o4-mini": (Capabilities(tools=True, attachments=IMAGES_AND_PDF, reasoning=True), 200_000),
}
DEFAULT_CAPABILITIES = Capabilities(tools=True, attachments=TEXT)
# What OpenAI lists beside its chat models: none of these answers a chat completion.
NOT_CHAT = (
    "embedding", "tts", "whisper", "dall-e", "moderation", "realtime", "transcribe",
    "audio", "gpt-image", "davinci", "babbage", "sora", "computer-use",
)  # fmt: skip


@functools.cache  # asked per reply (`is_reasoning`); the ids are few
def describe(model_id: str) -> Model:
    """The descriptor of `model_id`: known capabilities for OpenAI's families."""
    family = max((p for p in FAMILIES if _in_family(model_id, p)), key=len, default=None)
    capabilities, window = FAMILIES[family] if family else (DEFAULT_CAPABILITIES, None)
    return Model(id=model_id, capabilities=capabilities, context_window=window)


def _in_family(model_id: str, prefix: str) -> bool:
    return model_id == prefix or model_id.startswith((prefix + "-", prefix + "."))


def is_reasoning(model_id: str) -> bool:
    return describe(model_id).capabilities.reasoning


def from_setting(value: str) -> list[Model]:
    """`PROMPTKIT_OPENAI_MODELS`: ids, or a JSON list of per-model declarations."""
    if not value.lstrip().startswith("["):
        return [describe(part.strip()) for part in value.split(",") if part.strip()]
    try:
        items = json.loads(value)
        return [_declared(item) for item in items]
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(
            "PROMPTKIT_OPENAI_MODELS must be comma-separated ids or a JSON list of objects"
            ' with an "id" (and optionally display_name, aliases, tools, attachments,'
            f" reasoning, context_window): {error}"
        ) from None


def _declared(item: Any) -> Model:
    if isinstance(item, str):
        return describe(item)
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise TypeError(f"not an object with an id: {item!r}")
    base = describe(item["id"])
    known = base.capabilities
    capabilities = Capabilities(
        streaming=True,
        tools=bool(item.get("tools", known.tools)),
        attachments=tuple(item.get("attachments", known.attachments)),
        reasoning=bool(item.get("reasoning", known.reasoning)),
    )
    return replace(
        base,
        display_name=item.get("display_name"),
        aliases=tuple(item.get("aliases", ())),
        capabilities=capabilities,
        context_window=item.get("context_window", base.context_window),
    )


async def from_upstream(client: openai.AsyncOpenAI) -> list[Model]:
    """The chat models of `GET /v1/models`; `ProviderError` with a safe reason when it fails."""
    import openai

    try:
        listing = client.with_options(timeout=LIST_TIMEOUT_SECONDS, max_retries=0).models.list()
        ids = sorted({model.id async for model in listing})
    except openai.APIStatusError as error:
        raise ProviderError(f"GET /models answered HTTP {error.status_code}") from None
    except openai.APIError as error:
        raise ProviderError(f"GET /models failed ({type(error).__name__})") from None
    return [describe(i) for i in ids if not any(word in i for word in NOT_CHAT)]


def configured_models(environ: Mapping[str, str]) -> list[Model] | None:
    value = environ.get("PROMPTKIT_OPENAI_MODELS")
    return from_setting(value) if value else None
