"""builtin_openai: the provider for OpenAI and OpenAI-compatible servers, and conversation
titles from the same (on `PROMPTKIT_TITLE_MODEL`, default the chat's model).

Configured by `OPENAI_API_KEY` and `OPENAI_BASE_URL` (any OpenAI-compatible server: vLLM,
Ollama, llama.cpp). With neither set it registers no model, so the offline echo provider
answers instead. When configured it registers `PROMPTKIT_OPENAI_MODELS`, or what the upstream
lists at `GET /v1/models` (see `models`). One `AsyncOpenAI` client per app keeps the connections
pooled; it lives in `host.state["client"]` from `startup` to `shutdown`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from promptkit import ChatMessage, ChatRequest, Host, Model, hookimpl

from . import models

if TYPE_CHECKING:
    import openai

CLIENT = "client"  # the key of the AsyncOpenAI client in `host.state`
DEFAULT_TIMEOUT_SECONDS = 120.0  # between two chunks; the SDK's 600 s would hide a stalled stream
CONNECT_TIMEOUT_SECONDS = 10.0


def is_configured(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("OPENAI_API_KEY") or environ.get("OPENAI_BASE_URL"))


def shares_files_store(environ: Mapping[str, str]) -> bool:
    """Do the Files store (builtin_files) and chat go to one server with one key? A file id
    of that store is then valid in a chat; otherwise its bytes are sent."""
    files_url = environ.get("PROMPTKIT_FILES_BASE_URL") or environ.get("OPENAI_BASE_URL")
    files_key = environ.get("PROMPTKIT_FILES_API_KEY") or environ.get("OPENAI_API_KEY")
    return (files_url or "") == (environ.get("OPENAI_BASE_URL") or "") and files_key == (
        environ.get("OPENAI_API_KEY")
    )


def make_client(environ: Mapping[str, str]) -> openai.AsyncOpenAI:
    import openai  # imported here so `promptkit --help` stays fast

    timeout = float(environ.get("PROMPTKIT_OPENAI_TIMEOUT") or DEFAULT_TIMEOUT_SECONDS)
    return openai.AsyncOpenAI(
        # A local server needs no key, but the SDK insists on one.
        api_key=environ.get("OPENAI_API_KEY") or "not-needed",
        base_url=environ.get("OPENAI_BASE_URL") or None,
        timeout=openai.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
        max_retries=int(environ.get("PROMPTKIT_OPENAI_MAX_RETRIES") or 2),
        # The SDK's aiohttp transport (`openai[aiohttp]`) costs less CPU per request and per
        # streamed chunk than its default httpx one.
        http_client=openai.DefaultAioHttpClient(),
    )


@hookimpl
def startup(host: Host) -> None:
    environ = host.settings.environ
    if is_configured(environ):
        models.configured_models(environ)  # a malformed PROMPTKIT_OPENAI_MODELS stops start-up
        host.state[CLIENT] = make_client(environ)


@hookimpl
async def register_models(register: Callable[[Model], None], host: Host) -> None:
    client: openai.AsyncOpenAI | None = host.state.get(CLIENT)
    if client is None:  # not configured
        return
    listed = models.configured_models(host.settings.environ)
    for model in listed if listed is not None else await models.from_upstream(client):
        register(model)


@hookimpl
async def shutdown(host: Host) -> None:
    client: openai.AsyncOpenAI | None = host.state.pop(CLIENT, None)
    if client is not None:
        await client.close()


@hookimpl
def complete_stream(chat: ChatRequest, host: Host) -> AsyncIterator[Any] | None:
    client: openai.AsyncOpenAI | None = host.state.get(CLIENT)
    if client is None:  # shut down meanwhile
        return None
    from .streaming import stream_chat

    return stream_chat(client, chat, openai_file_ids=shares_files_store(host.settings.environ))


@hookimpl
async def conversation_title(messages: list[ChatMessage], model: str, host: Host) -> str | None:
    client: openai.AsyncOpenAI | None = host.state.get(CLIENT)
    if client is None:
        return None
    from .titles import title_of

    return await title_of(client, host.settings.environ, messages, model)
