"""Taking the turn, up to the first byte: the lease, the context, the provider's request and
the user message.

`start_turn` does everything that can still answer with a plain HTTP error (404, 409, 422,
503); `stream.stream_response` then streams the reply, and its recorder stores it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .. import attachments, prompt_variables, titles
from ..budget import Reservation, estimate_prompt
from ..db import conversations, files, messages, new_id
from ..db.owners import Owner
from ..errors import Conflict, NotFound, ValidationFailed
from ..hooktypes import (
    ChatRequest,
    Model,
    Principal,
)
from ..roles import owner_of
from ..tasks import track
from ..tools import Tool, ToolContext
from . import tool_loop
from .history import build_messages, expand_history
from .pump import Pump

if TYPE_CHECKING:
    from ..app import PromptkitApp

# A stream holds its conversation's lease this long without renewing it; it renews every
# third of that. A crashed process therefore blocks its conversation for at most this long.
LEASE_SECONDS = 30.0
# The most messages read back for the context; the character budget usually stops far sooner.
HISTORY_LIMIT = 200


@dataclass(frozen=True)
class Ask:
    """What a `POST /chat` body asks for, whichever of the two shapes it came in."""

    conversation_id: str
    text: str | None  # None: answer the last user message again ("regenerate-message")
    model: str | None = None
    prompt_variables: dict[str, str] = field(default_factory=dict)
    files: tuple[attachments.AttachedFile, ...] = ()  # attached to the new message
    # A stored message the turn branches at. With `text`, the user message that `text` edits
    # (`edit_of`): the new one becomes its sibling. Without, the message answered again: a
    # reply (the new one becomes its sibling) or a user message. None: the current branch.
    branch_at: str | None = None


@dataclass
class Turn:
    """One reply about to stream: everything the streaming part needs, nothing request-bound."""

    app: PromptkitApp
    principal: Principal
    conversation: dict[str, Any]
    lease_seconds: float
    chat: ChatRequest
    pump: Pump  # the provider's stream, already started
    user_message: dict[str, Any]
    assistant_id: str  # also the name of the conversation's lease (see `conversations`)
    prompt: tuple[str, int, dict[str, str]] | None  # the system prompt's id, version, variables
    # Settled once the reply is stored (the message) or given up (None): a stop waits for it.
    stored: asyncio.Future[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    title: titles.PendingTitle | None = None  # an untitled conversation being named meanwhile
    reservation: Reservation | None = None  # the reply's hold on the caller's token budget
    tools: list[Tool] = field(default_factory=list)  # what the model may call; empty: no loop


async def start_turn(app: PromptkitApp, principal: Principal, ask: Ask) -> Turn:
    """Take the conversation's lease and read its context, pick the provider, start its request
    and store the user message."""
    db, owner = app.db, owner_of(principal, app.settings.org_admin_roles)
    # A model that is not registered or not allowed is refused (422) before anything is written.
    model = app.models.resolve(ask.model)
    lease = new_id("msg")  # the reply's id: storing the reply ends the lease
    # The lease (which also reads the active prompt) and the history read go out at once: the
    # first token waits for one round trip, not two. The history read is scoped to the owner,
    # so a refused lease has shown nothing.
    take = conversations.take_stream_lease
    holder, seconds = app.replies.instance, app.settings.stream_lease_seconds or LEASE_SECONDS
    taking = asyncio.ensure_future(take(db, owner, ask.conversation_id, lease, seconds, holder))
    try:
        taken, newest_first = await asyncio.gather(
            asyncio.shield(taking),  # a client that leaves now must not leave the lease taken
            messages.recent(db, owner, ask.conversation_id, limit=HISTORY_LIMIT, end=ask.branch_at),
            return_exceptions=True,  # both settle: no failure is left unretrieved
        )
    except asyncio.CancelledError:
        track(app, _give_back(app, taking, ask.conversation_id, lease), "giving a lease back")
        raise
    if taken is None and await app.replies.settle_if_abandoned(owner, ask.conversation_id):
        # The lease had expired with its reply unstored (its instance died): that reply is
        # now stored from its checkpoint, so the history is read again with the lease.
        taken = await take(db, owner, ask.conversation_id, lease, seconds, holder)
        if taken is not None and not isinstance(newest_first, BaseException):
            newest_first = await messages.recent(
                db, owner, ask.conversation_id, limit=HISTORY_LIMIT, end=ask.branch_at
            )
    if isinstance(newest_first, BaseException):
        if isinstance(taken, conversations.TakenLease):  # give the lease back
            await conversations.release_stream_lease(db, ask.conversation_id, lease)
        raise newest_first
    if isinstance(taken, BaseException):
        raise taken
    if taken is None:
        if await conversations.get(db, owner, ask.conversation_id) is None:
            raise NotFound("conversation not found")
        raise Conflict("a reply is still streaming in this conversation")
    conversation, leaf_id, active, project_tools = taken
    try:
        # A branch that ends at a stored message never changes; only the current one can.
        if ask.branch_at is None and leaf_id != (newest_first[0]["id"] if newest_first else None):
            # A reply was stored between the read and the lease (its stream ended just then):
            # read again, now that the lease keeps the history still.
            newest_first = await messages.recent(db, owner, conversation["id"], limit=HISTORY_LIMIT)
        # A model registered without tool support is never sent tools.
        tools = app.tools.enabled(project_tools) if model.capabilities.tools else []
        return await _prepare(
            app, principal, ask, model, conversation, lease, newest_first, active, tools
        )
    except BaseException:
        await conversations.release_stream_lease(db, ask.conversation_id, lease)
        raise


async def _give_back(
    app: PromptkitApp,
    taking: asyncio.Future[conversations.TakenLease | None],
    conversation_id: str,
    lease: str,
) -> None:
    """Release the lease once `taking` has taken it (the request that took it has gone)."""
    if await taking is not None:
        await conversations.release_stream_lease(app.db, conversation_id, lease)


async def _prepare(
    app: PromptkitApp,
    principal: Principal,
    ask: Ask,
    model: Model,
    conversation: dict[str, Any],
    lease: str,
    newest_first: list[dict[str, Any]],
    active: conversations.SystemPrompt | None,
    tools: list[Tool],
) -> Turn:
    db, owner = app.db, owner_of(principal, app.settings.org_admin_roles)
    user_message: dict[str, Any] | None = None
    if ask.branch_at is not None and not newest_first:  # not a message of this conversation
        await _refuse_foreign(app, owner, ask.branch_at)
    # A new user message follows the branch's last message; an edit, the edited one's parent.
    parent_id = newest_first[0]["id"] if newest_first else None
    if ask.text is not None and ask.branch_at is not None:
        edited = newest_first.pop(0)
        if edited["role"] != "user":
            raise ValidationFailed("only a user message can be edited")
        parent_id = edited["parent_id"]
    if ask.text is None:
        # Regenerate: the last user message is asked again. The new reply is a sibling of the
        # replies after it, which stay as the other versions.
        while newest_first and newest_first[0]["role"] == "assistant":
            newest_first.pop(0)
        if not newest_first:
            raise ValidationFailed("there is no user message to answer again")
        user_message = newest_first.pop(0)
        text: str = user_message["content"]
    else:
        text = ask.text
    # The files of the history and of the new message, all checked before anything is stored.
    asked_again = [user_message] if user_message is not None else []
    files_of = await attachments.of_history(app, principal, model, [*newest_first, *asked_again])
    if user_message is None:
        attached = await attachments.attach(app, principal, conversation, model, ask.files)
    else:
        attached = files_of.get(user_message["id"], ())

    system, prompt = None, None
    if active is not None:
        # Filled (or refused) before anything is stored; the reply records what answered it.
        values = ask.prompt_variables
        system = prompt_variables.fill(active.content, values)
        used = {name: values[name] for name in prompt_variables.placeholders(active.content)}
        prompt = (active.prompt_id, active.version, used)
        system = system if system and system.strip() else None
    chat = ChatRequest(
        model=model.id,
        messages=build_messages(
            system,
            newest_first[::-1],
            text,
            app.settings.context_budget_chars,
            expand=expand_history if tools else None,
            files_of=files_of,
            new_files=attached,
        ),
        user_id=principal.user_id,
        conversation_id=conversation["id"],
        max_tokens=app.settings.max_reply_tokens,
        tools=tuple(tool.spec() for tool in tools),
    )
    # The worst case is held before the provider is called: over budget, nothing is written.
    reservation = None
    if app.budgets.limited(principal.org_id):
        worst_case = estimate_prompt(chat.messages) + app.settings.max_reply_tokens
        reservation = await app.budgets.reserve(principal.user_id, worst_case, principal.org_id)
    try:
        # Picking the provider does no network work yet; a provider that cannot serve now is
        # refused (503) without writing anything.
        stream = await app.models.open_stream(chat)
    except BaseException:
        if reservation is not None:
            await reservation.settle(0, chat.model)
        raise
    # The provider's request starts now and storing the user message overlaps with it (the
    # upstream's time to first token hides the database's). The message is still stored before
    # any of the reply is sent: the reply streams only after `start_turn` returns; if storing
    # fails, the provider's request is cancelled.
    # Tools act on the world: they run only once the user message is stored, so that a request
    # that fails or is cut before then has done nothing (only the model's first step overlaps).
    user_stored = asyncio.Event()
    if tools:
        stream = tool_loop.run_steps(
            app,
            chat,
            stream,
            {t.name: t for t in tools},
            _tool_context(app, principal, conversation),
            user_stored,
        )
    pump = Pump(stream)
    try:
        if user_message is None:
            parts = [{"type": "text", "text": text}, *map(attachments.file_part, attached)]
            user_message = await messages.insert(
                db,
                owner,
                conversation["id"],
                role="user",
                content=text,
                status="complete",
                parts=parts,
                parent_id=parent_id,
            )
            await app.plugins.message_saved(user_message, conversation, principal)
    except BaseException:
        pump.cancel()
        if reservation is not None:
            await reservation.settle(0, chat.model)
        raise
    user_stored.set()
    return Turn(
        app=app,
        principal=principal,
        conversation=conversation,
        lease_seconds=app.settings.stream_lease_seconds or LEASE_SECONDS,
        chat=chat,
        pump=pump,
        user_message=user_message,
        assistant_id=lease,
        prompt=prompt,
        title=titles.begin(app, principal, conversation, chat),
        reservation=reservation,
        tools=tools,
    )


async def _refuse_foreign(app: PromptkitApp, owner: Owner, message_id: str) -> None:
    """A message named by a turn is not in its conversation: 404 when it is not the caller's
    at all, 422 when it is one of the caller's other conversations."""
    if await messages.locate(app.db, owner, message_id) is None:
        raise NotFound("message not found")
    raise ValidationFailed("the message belongs to another conversation")


def _tool_context(
    app: PromptkitApp, principal: Principal, conversation: dict[str, Any]
) -> ToolContext:
    db, project_id = app.db, conversation["project_id"]
    owner = owner_of(principal, app.settings.org_admin_roles)

    async def list_project_files() -> list[dict[str, Any]]:
        rows = await files.of_project(db, owner, project_id)
        keep: tuple[Literal["filename", "size_bytes", "content_type"], ...]
        keep = ("filename", "size_bytes", "content_type")
        return [{key: row[key] for key in keep} for row in rows]

    return ToolContext(
        principal=principal,
        project_id=project_id,
        conversation_id=conversation["id"],
        log=logging.getLogger("promptkit.tools"),
        list_project_files=list_project_files,
    )
