"""Conversations: `/projects/{id}/conversations`, `/conversations/{id}` and its messages."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from .. import context
from ..db import Database, deletes, messages, projects
from ..db import conversations as q
from ..db.conversations import ConversationRow
from ..db.owners import Owner
from ..errors import Conflict, NotFound, ValidationFailed
from ..hooktypes import Principal
from ..plugins import Plugins
from ..schemas import (
    BranchIn,
    Conversation,
    ConversationIn,
    ConversationPatch,
    ListQuery,
    Message,
    Page,
)
from ..tasks import run_to_completion
from . import PageOf, found, page

blueprint = Blueprint("conversations", __name__)


@blueprint.get("/projects/<id:project_id>/conversations")
@validate_querystring(ListQuery)
@validate_response(Page[Conversation])
async def list_conversations(project_id: str, query_args: ListQuery) -> PageOf[ConversationRow]:
    """List the conversations of a project, newest first."""
    owner = context.owner()
    found(await projects.get(context.db(), owner, project_id), "project")
    rows, cursor = await q.list_page(
        context.db(), owner, project_id, limit=query_args.limit, cursor=query_args.cursor
    )
    return page(rows, cursor)


@blueprint.post("/projects/<id:project_id>/conversations")
@validate_request(ConversationIn)
@validate_response(Conversation, 201)
async def create_conversation(project_id: str, data: ConversationIn) -> tuple[ConversationRow, int]:
    """Start a conversation in a project."""
    owner = context.owner()
    return found(await q.create(context.db(), owner, project_id, data.title), "project"), 201


@blueprint.get("/conversations/<id:conversation_id>")
@validate_response(Conversation)
async def get_conversation(conversation_id: str) -> ConversationRow:
    """Read a conversation."""
    row = await q.get(context.db(), context.owner(), conversation_id)
    return found(row, "conversation")


@blueprint.patch("/conversations/<id:conversation_id>")
@validate_request(ConversationPatch)
@validate_response(Conversation)
async def retitle_conversation(conversation_id: str, data: ConversationPatch) -> ConversationRow:
    """Retitle a conversation."""
    row = await q.retitle(context.db(), context.owner(), conversation_id, data.title)
    return found(row, "conversation")


@blueprint.delete("/conversations/<id:conversation_id>")
async def delete_conversation(conversation_id: str) -> tuple[str, int]:
    """Delete a conversation and its messages."""
    plugins, principal = context.plugins(), context.principal()
    if not plugins.observes_deletions():
        if not await q.delete(context.db(), context.owner(), conversation_id):
            raise NotFound("conversation not found")
        return "", 204
    work = _delete_and_tell(context.db(), plugins, principal, context.owner(), conversation_id)
    if not await run_to_completion(context.app(), work, "deleting a conversation"):
        raise NotFound("conversation not found")
    return "", 204


async def _delete_and_tell(
    db: Database, plugins: Plugins, principal: Principal, owner: Owner, conversation_id: str
) -> bool:
    """Delete with the messages read back, then tell the observers: both finish even when the
    client goes away, so no observer misses a committed delete."""
    gone = await deletes.conversation(db, owner, conversation_id)
    if gone is None:
        return False
    await plugins.messages_deleted(gone.messages, gone.conversation, principal)
    return True


@blueprint.get("/conversations/<id:conversation_id>/messages")
@validate_querystring(ListQuery)
@validate_response(Page[Message])
async def list_messages(conversation_id: str, query_args: ListQuery) -> PageOf[messages.MessageRow]:
    """The conversation's current branch, oldest first; each message with its place among its
    versions (`branch`)."""
    owner = context.owner()
    found(await q.get(context.db(), owner, conversation_id), "conversation")
    rows, cursor = await messages.list_page(
        context.db(), owner, conversation_id, limit=query_args.limit, cursor=query_args.cursor
    )
    return page(rows, cursor)


@blueprint.get("/conversations/<id:conversation_id>/tree")
@validate_querystring(ListQuery)
@validate_response(Page[Message])
async def list_tree(conversation_id: str, query_args: ListQuery) -> PageOf[messages.MessageRow]:
    """Every message of the conversation, every branch, oldest first, with its `parent_id`."""
    owner = context.owner()
    found(await q.get(context.db(), owner, conversation_id), "conversation")
    rows, cursor = await messages.tree_page(
        context.db(), owner, conversation_id, limit=query_args.limit, cursor=query_args.cursor
    )
    return page(rows, cursor)


@blueprint.post("/conversations/<id:conversation_id>/branch")
@validate_request(BranchIn)
@validate_response(Conversation)
async def switch_branch(conversation_id: str, data: BranchIn) -> ConversationRow:
    """Make the branch through a message current, down to its newest leaf; the next `/chat`
    continues it."""
    app, owner = context.app(), context.owner()
    row = await q.switch_branch(app.db, owner, conversation_id, data.message_id)
    if row is None and await app.replies.settle_if_abandoned(owner, conversation_id):
        # The lease was held by an instance that died: its reply is stored now.
        row = await q.switch_branch(app.db, owner, conversation_id, data.message_id)
    if row is not None:
        return row
    found(await q.get(app.db, owner, conversation_id), "conversation")
    where = await messages.locate(app.db, owner, data.message_id)
    if where is None:
        raise NotFound("message not found")
    if where != conversation_id:
        raise ValidationFailed(
            "the message belongs to another conversation",
            details=[{"loc": ["body", "message_id"], "msg": "not a message of this conversation"}],
        )
    raise Conflict("a reply is still streaming in this conversation")
