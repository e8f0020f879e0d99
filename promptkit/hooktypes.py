"""The values that cross the hook boundary between the kernel and plugins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

View = TypeVar("View", bound=Callable[..., Any])
PUBLIC_ROUTE = "_promptkit_public_route"


def public_route(view: View) -> View:
    """Mark a plugin's view as open to anyone: no credential is asked for, nobody is counted.
    The view must then check whatever proves the caller (a webhook's signature, say)."""
    setattr(view, PUBLIC_ROUTE, True)
    return view


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the owner of every row the request may touch."""

    user_id: str
    session_id: str | None = None
    org_id: str | None = None
    org_slug: str | None = None
    org_role: str | None = None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What a `complete_stream` provider is asked to answer.

    `messages` is ready to send upstream: the active prompt first (as `system`), then the history
    oldest first, trimmed to the context budget, ending with the new user message.
    """

    model: str
    messages: list[ChatMessage]
    user_id: str
    conversation_id: str
    # The reply's length cap (`PROMPTKIT_MAX_REPLY_TOKENS`): send it upstream, never exceed it.
    # A token budget reserves exactly this much for the reply.
    max_tokens: int | None = None


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
class StreamEnd:
    """The last item a `complete_stream` iterator yields, after the text deltas."""

    finish_reason: Literal["stop", "length"] = "stop"
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
