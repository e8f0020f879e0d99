"""A third-party promptkit provider: Anthropic's Messages API for models named `claude-*`.

Installed beside the built-ins, it registers the `claude-*` models (those of
`PROMPTKIT_ANTHROPIC_MODELS`, else those the API lists at `GET /v1/models`), and promptkit
sends it the chats that name them and no others, whatever the plugin order.

Settings, read from promptkit's environment:
- `ANTHROPIC_API_KEY` (required; without it this plugin registers no model)
- `ANTHROPIC_BASE_URL` (optional; any Anthropic-compatible server)
- `PROMPTKIT_ANTHROPIC_MODELS` (optional; comma-separated ids instead of the API's listing)
- `PROMPTKIT_ANTHROPIC_MAX_TOKENS` (optional; the reply length limit, default 4096; promptkit's
  `PROMPTKIT_MAX_REPLY_TOKENS` caps it further)
- `PROMPTKIT_ANTHROPIC_THINKING_TOKENS` (optional; at least 1024: ask the models that have
  extended thinking to think with this budget, in turns without tools; the thinking streams as
  reasoning)

Tools: the tools of a chat go to the API as its `tools`; the model's `tool_use` blocks stream as
tool calls (`input_json_delta` fragments joined into the input), and the calls and results of
earlier steps go back as `tool_use` and `tool_result` blocks. Thinking streams as reasoning.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from promptkit import ChatRequest, Host, Model, hookimpl

from .stream import Item, Provider, describe

PROVIDER = "provider"  # the key of this plugin's Provider in `host.state`
MODEL_PREFIX = "claude-"


@hookimpl
def startup(host: Host) -> None:
    if host.setting("ANTHROPIC_API_KEY"):
        host.state[PROVIDER] = Provider.from_environ(host.settings.environ)


@hookimpl
async def shutdown(host: Host) -> None:
    provider: Provider | None = host.state.pop(PROVIDER, None)
    if provider is not None:
        await provider.close()


@hookimpl
async def register_models(register: Callable[[Model], None], host: Host) -> None:
    provider: Provider | None = host.state.get(PROVIDER)
    if provider is None:
        return
    configured = host.setting("PROMPTKIT_ANTHROPIC_MODELS")
    if configured:
        listed = [(part.strip(), None) for part in configured.split(",") if part.strip()]
    else:
        listed = await provider.list_models()
    for model_id, display_name in listed:
        if model_id.startswith(MODEL_PREFIX):
            register(describe(model_id, display_name))


@hookimpl
def complete_stream(chat: ChatRequest, host: Host) -> AsyncIterator[str | Item] | None:
    # Asked only for the models registered above. A plain function: it must be able to answer
    # None (not started, or shut down), which an `async def` generator cannot.
    provider: Provider | None = host.state.get(PROVIDER)
    if provider is None:
        return None
    return provider.stream(chat)
