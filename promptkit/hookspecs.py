"""The hooks: the kernel's only door to the outside.

A plugin implements some of these with `@promptkit.hookimpl` and is found through the
`promptkit` entry point group. A hookimpl may take any subset of a hook's arguments, by name.
Only `promptkit.plugins.Plugins` calls these hooks; see it for how answers are combined.

Every hook but `register_commands` takes `host`: the plugin's own `promptkit.Host` (its
settings by name, its per-app `state`, the app's shared `http` session, its `log` and its
`data_dir`), the same object in every hook of one app. `app`, the Quart app, is deprecated:
a hookimpl that names it is logged as the app is built, and a major version removes it.

Three kinds of hook:
- claim-or-pass (`authenticate`, `store_file`, `read_stored_file`, `delete_stored_file`,
  `conversation_title`): every plugin is asked in turn; the first that returns something other
  than None answers and the rest are ignored. Built-in fallbacks are `trylast`, so an installed
  plugin answers first.
- registration (`register_models`): every plugin registers what it serves; `complete_stream` is
  then asked of the one plugin that registered the chat's model, never in hook order.
- observers (`on_message_saved`, `on_message_deleted`, `shutdown`): every plugin is called;
  one plugin raising is logged with its name and never stops the others or the request.
- `startup`, `register_tools`, `register_routes` and `register_commands`: every plugin is
  called; one raising stops start-up with its name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # types only: the command line loads this module and must start quickly
    import click
    from quart import Blueprint, Quart, Request

    from .hooktypes import (
        ChatMessage,
        ChatRequest,
        Host,
        Model,
        Principal,
        ReasoningDelta,
        StoredFile,
        StreamEnd,
        ToolCallDelta,
        Upload,
    )
    from .tools import Tool

    StreamItem = str | ReasoningDelta | ToolCallDelta | StreamEnd

hookspec = pluggy.HookspecMarker("promptkit")


@hookspec
def authenticate(
    request: Request, host: Host, app: Quart
) -> Principal | Awaitable[Principal | None] | None:
    """Identify the caller of a protected route.

    Called once per request to any route except `/health*`, `/openapi.json` and `/docs`, before
    the view runs. Read the credential from `request.headers` or `request.cookies`; never read
    the body. May be a plain function or `async def`.

    Return a `Principal` when the credential is yours and valid, or None when there is no
    credential you recognise (another plugin may know it). The first Principal wins; when every
    plugin returns None the request answers 401. Raise `promptkit.AuthenticationError` with a
    safe reason ("token expired") when the credential is yours but fails a check: the request
    answers 401 with that reason and no later plugin is asked. Raise
    `promptkit.ServiceUnavailable` when you cannot decide now (key server down): 503. Never put
    the token in a message or a log line.
    """


@hookspec
def register_models(
    register: Callable[[Model], None], host: Host, app: Quart
) -> Awaitable[None] | None:
    """Register the models you serve: call `register(Model(...))` once per model.

    Called after `startup`, then again every `PROMPTKIT_MODELS_REFRESH` seconds, so a list read
    from an upstream (`GET /v1/models`) stays current. May be `async def`; keep it within a few
    seconds. Register nothing when you are not configured. The kernel sets `Model.provider` to
    your plugin's name and routes every chat naming the model's id or an alias to your
    `complete_stream`. An id or alias that two plugins register stops start-up naming both.
    Raising (use `promptkit.ProviderError` with a safe message) keeps the models you registered
    last time, and `/health/ready` says that your listing is stale.
    """


@hookspec
def complete_stream(
    chat: ChatRequest, host: Host, app: Quart
) -> AsyncIterator[StreamItem] | Awaitable[AsyncIterator[StreamItem] | None] | None:
    """Stream a reply to `chat`, a model you registered with `register_models`.

    Called by `POST /chat` for the plugin that registered `chat.model` only, once the model is
    known to be allowed and the caller's token budget holds the reply. Return an async iterator
    without starting any network work yet, or None when you cannot serve it now (the chat
    answers 503). Do not write the hookimpl as an `async def` generator; a plain function
    returning an async generator is the usual shape. Never let the reply run past
    `chat.max_tokens`: a token budget reserved exactly that much.

    The iterator yields each text delta as a `str` as soon as it arrives, then one `StreamEnd`
    with the finish reason, the model that answered and the token usage when known. Besides
    text it may yield `ReasoningDelta`s (the model's reasoning, shown apart) and, when
    `chat.tools` is not empty, `ToolCallDelta`s: the model calling a tool. Send `chat.tools`
    upstream in your provider's format; render the history's `tool_calls` and `tool` messages
    in it too. A user message may carry `attachments`: files the model reads (their media types
    are among the model's registered `Capabilities.attachments`); send each in your provider's
    format beside the message's text, reading the bytes with `attachment.chunks()` (text-like
    files, `attachment.is_text`, as text). End a step that called tools with
    `StreamEnd(finish_reason="tool-calls")`: the
    kernel runs the tools and calls you again with their results appended. Raise
    `promptkit.ProviderError` with a message safe to show a user when the provider fails, before
    or during the stream; the kernel sends it as an `error` part and stores what was produced.
    The kernel may stop iterating at any time (the client went away): release the upstream
    connection in a `finally` block of the generator, and never swallow `CancelledError`.
    """


@hookspec(firstresult=True)
def conversation_title(
    messages: list[ChatMessage], model: str, host: Host, app: Quart
) -> str | Awaitable[str | None] | None:
    """Name an untitled conversation from its first exchange, or pass.

    Called once per reply to an untitled conversation (unless `PROMPTKIT_TITLES=off`), beside
    that reply and never before its first token: `messages` is what the user has said so far
    (no system prompt; usually the one first message), `model` the model the reply goes to.
    May be `async def`; keep it short (one small request): the kernel gives up after a few
    seconds. Stops at the first answer that is not None.

    Return a short title (the kernel trims quotes, a final full stop and anything past 60
    characters), or None to let another plugin answer; when none does, or one raises or is too
    slow, the kernel uses the first words of the message. Raising never fails the reply.
    """


@hookspec
def on_message_saved(
    message: dict[str, Any],
    conversation: dict[str, Any],
    principal: Principal,
    host: Host,
    app: Quart,
) -> Awaitable[None] | None:
    """Observe a chat message that was just stored.

    Called after each user and assistant message of `POST /chat` is committed, with the message
    and its conversation as the API answers them (JSON-ready: dates are ISO strings). May be
    `async def`. Every plugin is called; the return value is ignored; an exception is logged
    with the plugin's name and the chat goes on. Keep it quick or hand slow work to a task of
    your own: the chat waits for it.
    """


@hookspec
def on_message_deleted(
    message: dict[str, Any],
    conversation: dict[str, Any],
    principal: Principal,
    host: Host,
    app: Quart,
) -> Awaitable[None] | None:
    """Observe a chat message that was just deleted.

    Called once for each message, after the delete is committed, with the message and its
    conversation as the API answered them just before (JSON-ready, like `on_message_saved`):
    by `DELETE /conversations/{id}` for each of its messages, oldest first, and by
    `DELETE /projects/{id}` for every message of each of its conversations. Not yet called for
    the messages that a regenerated reply replaces. May be `async def`. Every plugin is
    called; the return value is ignored; an exception is logged with the plugin's name and the
    delete still succeeds.

    One hook per event, not one for every event of every resource: `on_message_saved` keeps
    its arguments, and an observer of deletions (a search index, an audit log) implements just
    this one. A delete reads its messages back only when some plugin implements it.
    """


@hookspec
def store_file(
    upload: Upload, project: dict[str, Any], principal: Principal, host: Host, app: Quart
) -> StoredFile | Awaitable[StoredFile | None] | None:
    """Put the bytes of an uploaded file somewhere, or pass.

    Called by `POST /projects/{id}/files` after the upload is spooled to disk and checked, before
    any row is written, in a task that the client going away does not cancel. Stream from
    `upload.path` (the file is removed once you answer); never read it whole into memory.
    Return where the bytes went, or None to let another plugin take it (when every plugin
    passes, the upload answers 503). Raise `promptkit.ProviderError` when the provider fails:
    the client gets 502 and no row is written, so leave nothing stored at the provider either
    (an upload whose answer was lost may still have created a file). If the row cannot be
    written after you answered, `delete_stored_file` is called with what you returned.
    May be `async def`.
    """


@hookspec
def read_stored_file(
    stored: StoredFile, principal: Principal, host: Host, app: Quart
) -> AsyncIterator[bytes] | Awaitable[AsyncIterator[bytes] | None] | None:
    """Give back the bytes of a file that `store_file` stored, or pass.

    Called by `GET /files/{id}/content` once the kernel has checked that the caller owns the
    file. Return None when `stored.provider` is not yours; otherwise an async iterator of the
    bytes in chunks (64 KiB is a good size), read as they are sent: never the whole file at
    once. Do not write the hookimpl as an `async def` generator (it would claim every call): a
    plain function that returns one is the usual shape, as for `complete_stream`. The kernel
    reads the first chunk before it answers,
    so an error raised there still reaches the client with its status: raise
    `promptkit.Conflict` when your store cannot give these bytes back (409, with your reason),
    `promptkit.ProviderError` when it fails (502). May be `async def`.
    """


@hookspec
def delete_stored_file(
    stored: StoredFile, principal: Principal, host: Host, app: Quart
) -> bool | Awaitable[bool | None] | None:
    """Delete a file that `store_file` stored, or pass.

    Called by `DELETE /files/{id}` and by a project delete, before the row is removed, and by
    an upload whose row could not be written. Return True when `stored.provider` is yours and
    the file is gone (a file already absent counts as deleted, so retries are safe); None when
    it is not yours or you are not configured (the delete answers 503 and the row stays).
    Raise `promptkit.ProviderError` when the delete failed: the row stays and the client gets
    502 (a project delete stops there and keeps the project). Only `stored.provider` and
    `stored.provider_file_id` are kept in the row: `stored.extra` is empty here, except when an
    upload's row could not be written. May be `async def`.
    """


@hookspec
def startup(host: Host, app: Quart) -> Awaitable[None] | None:
    """Prepare per-app state before the server accepts requests.

    Called once per app as it starts serving. Read your settings with `host.setting(name)`
    and keep clients and caches in `host.state`, not in module globals: tests and workers run
    several apps.
    Raising stops start-up with your plugin's name in the error.
    """


@hookspec
def shutdown(host: Host, app: Quart) -> Awaitable[None] | None:
    """Release what `startup` made (close the clients in `host.state`).

    Called once as the app stops serving; `host.http` stays open until every plugin's
    `shutdown` has run, and the kernel closes it then.
    """


@hookspec
def register_tools(
    register: Callable[[Tool], None], host: Host, app: Quart
) -> Awaitable[None] | None:
    """Register tools that models may call: `register(promptkit.Tool(name, description, input,
    function))` for each.

    Called once per app as it starts serving, after `startup`; may be `async def` (to list a
    remote server's tools, say). A project's chats may call the tools it enabled
    (`PATCH /projects/{id}` `{"tools": [...]}`), which `PROMPTKIT_TOOLS` may restrict. The
    kernel validates the model's arguments against `input`, runs `function(input, context)`
    with a timeout, and sends the result (or the error) back to the model. A name another
    plugin registered, or raising, stops start-up with your plugin's name.
    """


@hookspec
def register_routes(host: Host) -> Blueprint | list[Blueprint] | None:
    """Add HTTP routes: return a Quart `Blueprint` (or a list of them), or None.

    Called once as the app is built, before any request (and before `startup`: `host.state`
    is still empty). Every route of yours is authenticated like the kernel's (the view reads
    the caller with `promptkit.context.principal()`, and your Host with
    `promptkit.context.host()`) and counted by the API rate limit, unless its view is
    marked `@promptkit.public_route` (a webhook, say), which then must check its own
    credential. Use a blueprint name and URL prefix of your own: a name already taken
    stops start-up with your plugin's name. Must be a plain function.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the `promptkit` command line (`@cli.command()`).

    Called once when the command line starts, before any command runs; must be a plain
    function. Import heavy modules inside your commands, not here, so `--help` stays fast.
    """
