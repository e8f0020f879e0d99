"""A third-party promptkit provider: Anthropic's Messages API for models named `claude-*`.

Installed beside the built-ins, it answers the chats whose model starts with `claude-` and
passes every other model on, so one promptkit serves both providers. It runs before the other
providers (`tryfirst`): the built-in OpenAI provider answers every model once it is configured.

Settings, read from promptkit's environment:
- `ANTHROPIC_API_KEY` (required; without it this plugin passes and another provider answers)
- `ANTHROPIC_BASE_URL` (optional; any Anthropic-compatible server)
- `PROMPTKIT_ANTHROPIC_MAX_TOKENS` (optional; the reply length limit, default 4096)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from promptkit import ChatRequest, StreamEnd, hookimpl

from .stream import Provider

EXTENSION = "promptkit_anthropic"
MODEL_PREFIX = "claude-"


@hookimpl
def startup(app: Any) -> None:
    environ = app.settings.environ
    if environ.get("ANTHROPIC_API_KEY"):
        app.extensions[EXTENSION] = Provider.from_environ(environ)


@hookimpl
async def shutdown(app: Any) -> None:
    provider: Provider | None = app.extensions.pop(EXTENSION, None)
    if provider is not None:
        await provider.close()


@hookimpl(tryfirst=True)
def complete_stream(chat: ChatRequest, app: Any) -> AsyncIterator[str | StreamEnd] | None:
    # A plain function: it must be able to answer None, which an `async def` generator cannot.
    provider: Provider | None = app.extensions.get(EXTENSION)
    if provider is None or not chat.model.startswith(MODEL_PREFIX):
        return None
    return provider.stream(chat)
