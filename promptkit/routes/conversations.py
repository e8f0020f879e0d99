"""Conversations: `/projects/{id}/conversations`, `/conversations/{id}` and its messages."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from .. import context
from ..db import conversations as q
from ..db import messages, projects
from ..errors import NotFound
from ..schemas import Conversation, ConversationIn, ConversationPatch, ListQuery, Message, Page
from . import found, page

blueprint = Blueprint("conversations", __name__)


@blueprint.get("/projects/<id:project_id>/conversations")
@validate_querystring(ListQuery)
@validate_response(Page[Conversation])
async def list_conversations(project_id: str, query_args: ListQuery) -> dict[str, Any]:
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
async def create_conversation(project_id: str, data: ConversationIn) -> tuple[dict[str, Any], int]:
    """Start a conversation in a project."""
    owner = context.owner()
    return found(await q.create(context.db(), owner, project_id, data.title), "project"), 201


@blueprint.get("/conversations/<id:conversation_id>")
@validate_response(Conversation)
async def get_conversation(conversation_id: str) -> dict[str, Any]:
    """Read a conversation."""
    row = await q.get(context.db(), context.owner(), conversation_id)
    return found(row, "conversation")


@blueprint.patch("/conversations/<id:conversation_id>")
@validate_request(ConversationPatch)
@validate_response(Conversation)
async def retitle_conversation(conversation_id: str, data: ConversationPatch) -> dict[str, Any]:
    """Retitle a conversation."""
    row = await q.retitle(context.db(), context.owner(), conversation_id, data.title)
    return found(row, "conversation")


@blueprint.delete("/conversations/<id:conversation_id>")
async def delete_conversation(conversation_id: str) -> tuple[str, int]:
    """Delete a conversation and its messages."""
    if not await q.delete(context.db(), context.owner(), conversation_id):
        raise NotFound("conversation not found")
    return "", 204


@blueprint.get("/conversations/<id:conversation_id>/messages")
@validate_querystring(ListQuery)
@validate_response(Page[Message])
async def list_messages(conversation_id: str, query_args: ListQuery) -> dict[str, Any]:
    """The conversation's history, oldest first."""
    owner = context.owner()
    found(await q.get(context.db(), owner, conversation_id), "conversation")
    rows, cursor = await messages.list_page(
        context.db(), owner, conversation_id, limit=query_args.limit, cursor=query_args.cursor
    )
    return page(rows, cursor)
