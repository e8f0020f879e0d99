"""The values that cross the hook boundary between the kernel and plugins."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, overload

if TYPE_CHECKING:
    import aiohttp

    from .settings import Settings

View = TypeVar("View", bound=Callable[..., Any])
PUBLIC_ROUTE = "_promptkit_public_route"


def public_route(view: View) -> View:
    """Mark a plugin's view as open to anyone: no credential is asked for, nobody is counted.
    The view must then check whatever proves the caller (a webhook's signature, say)."""
    setattr(view, PUBLIC_ROUTE, True)
    return view


class HookApp(Protocol):
    """Deprecated: name `host` (a `Host`) in a hookimpl instead of `app`; a major version
    removes `app` from the hooks, and this with it.

    What a plugin may use of the `app` its hooks receive: the settings, and `extensions`
    for its own per-app state. For type hints (`def startup(app: HookApp)`); the rest of the
    app is the kernel's, and plugins never import `promptkit.app` to reach it."""

    settings: Settings
    extensions: dict[str, Any]


class SharedHttp:
    """The one `aiohttp.ClientSession` that an app's plugins share, opened on first use; the
    kernel closes it after every `shutdown` hook has run (a later start opens a new one)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp  # here: the command line loads this module and must start quickly

            # HTTPS_PROXY and friends, as the SDKs' own clients honour them.
            self._session = aiohttp.ClientSession(trust_env=True)
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


@dataclass(frozen=True, slots=True, eq=False)
class Host:
    """What a plugin's hooks get of the app (the `host` argument), one per app and plugin.

    `name` is the plugin's registered name (its entry point's); `setting(name)` reads a
    setting from the app's environment, `settings` is the kernel's own (read-only); `state`
    is this plugin's own per-app dict, for the clients `startup` builds (never module globals:
    tests and workers run several apps); `http` is the app's shared aiohttp session; `log`
    the logger `promptkit.plugins.<name>`; `data_dir` this plugin's directory under
    `PROMPTKIT_DATA_DIR` (not created: `mkdir` it when you first need it). Nothing else of the
    app is in reach: not the database, not the routes, not another plugin.
    """

    name: str
    settings: Settings = field(repr=False)
    state: dict[str, Any] = field(default_factory=dict, repr=False)
    _http: SharedHttp = field(default_factory=SharedHttp, repr=False)

    @overload
    def setting(self, name: str) -> str | None: ...
    @overload
    def setting(self, name: str, default: str) -> str: ...
    def setting(self, name: str, default: str | None = None) -> str | None:
        """The setting `name` from the environment (and `.env`), or `default` when unset."""
        return self.settings.environ.get(name, default)

    @property
    def http(self) -> aiohttp.ClientSession:
        """The app's one shared HTTP session (pooled connections), opened on first use and
        closed by the kernel after `shutdown`: never close it yourself. Give a request its
        own `timeout=`; the session's is aiohttp's default."""
        return self._http.session()

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"promptkit.plugins.{self.name}")

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir / self.name


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, and the organization active in their session, if any.

    `org_role` reads `org:<role>` whichever Clerk token version carried it; `org_permissions`
    are the organization permissions the token grants (`org:<feature>:<permission>`).
    `promptkit.roles` turns these into what the caller may do.
    """

    user_id: str
    session_id: str | None = None
    org_id: str | None = None
    org_slug: str | None = None
    org_role: str | None = None
    org_permissions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model made in an earlier step, as history: `arguments` is the JSON text."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a user message, already checked: the caller's own, in the project,
    of a media type the chosen model reads (`Capabilities.attachments`).

    `stored` says where the bytes are (`provider` "openai" with its file id, "local", or a
    `store_file` plugin's own); `chunks()` streams them from whichever store holds them, so a
    provider can send them on (base64, or as text when `is_text`) without holding every file
    at once.
    """

    file_id: str
    filename: str
    media_type: str
    size_bytes: int
    stored: StoredFile
    # Streams the bytes; given by the kernel (it asks the `read_stored_file` hook).
    read: Callable[[], AsyncIterator[bytes]] = field(repr=False, compare=False)

    @property
    def is_text(self) -> bool:
        """Text, markdown, CSV, JSON, source code...: sent to a model as text."""
        return is_text_media_type(self.media_type)

    def chunks(self) -> AsyncIterator[bytes]:
        return self.read()

    async def read_bytes(self) -> bytes:
        """All the bytes at once; prefer `chunks()` for large files."""
        return b"".join([chunk async for chunk in self.read()])


# Media types outside `text/*` that are text all the same (`+json`, `+xml` are too).
TEXT_APPLICATION_TYPES = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/javascript",
        "application/x-javascript",
        "application/typescript",
        "application/x-typescript",
        "application/x-sh",
        "application/x-python",
        "application/sql",
        "application/x-ndjson",
        "application/csv",
    }
)


def is_text_media_type(media_type: str) -> bool:
    kind = media_type.split(";", 1)[0].strip().lower()
    return (
        kind.startswith("text/")
        or kind in TEXT_APPLICATION_TYPES
        or kind.endswith(("+json", "+xml"))
    )


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One upstream message. An assistant message may carry the `tool_calls` it made (its
    `content` is then the text beside them, often empty); each call's result follows as a
    `tool` message whose `tool_call_id` names the call and whose `content` is the result as
    JSON text (an error result is `{"error": "..."}`). A user message may carry the files
    attached to it (`attachments`), to be sent in the provider's own format beside `content`."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: send it upstream in the provider's own format."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What a `complete_stream` provider is asked to answer.

    `messages` is ready to send upstream: the active prompt first (as `system`), then the history
    oldest first, trimmed to the context budget, ending with the new user message (or, in a
    later step of a tool loop, with the results of the tool calls the model just made).
    """

    model: str
    messages: list[ChatMessage]
    user_id: str
    conversation_id: str
    # The reply's length cap (`PROMPTKIT_MAX_REPLY_TOKENS`): send it upstream, never exceed it.
    # A token budget reserves exactly this much for the reply.
    max_tokens: int | None = None
    tools: tuple[ToolSpec, ...] = ()  # empty: send no tools, and expect no tool calls


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a model accepts and does, for a frontend's model picker and the kernel's checks."""

    streaming: bool = True
    tools: bool = False
    # Media types (or ranges like `image/*`, `*/*`) that a chat may attach; empty: text only.
    attachments: tuple[str, ...] = ()
    reasoning: bool = False


@dataclass(frozen=True, slots=True)
class Model:
    """A model that a `register_models` plugin serves; chats naming `id` or an alias go to it.

    `provider` is filled in by the kernel with the name of the plugin that registered it.
    """

    id: str
    display_name: str | None = None
    aliases: tuple[str, ...] = ()
    capabilities: Capabilities = field(default_factory=Capabilities)
    context_window: int | None = None
    provider: str = ""


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A `complete_stream` item: a fragment of a tool call the model is making.

    The first fragment of a call names it (`call_id` and `name`); later ones carry only
    `call_id` and more of `arguments`, the JSON text, to be appended. A provider that gets a
    whole call at once yields one fragment with all of it. End the step with
    `StreamEnd(finish_reason="tool-calls")`."""

    call_id: str
    arguments: str = ""
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A `complete_stream` item: a fragment of the model's reasoning text, shown apart."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last item a `complete_stream` iterator yields, after the text deltas."""

    finish_reason: Literal["stop", "length", "tool-calls"] = "stop"
    model: str | None = None
    usage: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Upload:
    """A file received by `POST /projects/{id}/files`, spooled to disk by the kernel.

    `path` is a temporary file that holds the bytes; read it, never keep it: it is removed once
    the request ends. `filename` is for display only, never a path.
    """

    path: str
    filename: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Where a `store_file` plugin put the bytes."""

    provider_file_id: str
    provider: str
    extra: dict[str, Any] = field(default_factory=dict)
