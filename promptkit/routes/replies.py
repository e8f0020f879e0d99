"""`GET /chat/{id}/stream` and `POST /chat/{id}/stop`: the reply in flight, resumed or stopped."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import validate_response

from .. import context
from ..chat.wire import HEADERS
from ..db import messages
from ..schemas import SSE_EVENT, Message, document_raw_responses

blueprint = Blueprint("replies", __name__)

RESUMED_STREAM = {
    "description": "The reply in flight, replayed from its `start` part and then live, as the"
    " UI message stream of `POST /chat`, ending with `data: [DONE]`.",
    "content": {"text/event-stream": {"schema": SSE_EVENT}},
}
NOTHING = {"description": "No reply is in flight in this conversation; no body"}


@blueprint.get("/chat/<id:conversation_id>/stream")
@document_raw_responses({200: RESUMED_STREAM, 204: NOTHING})
async def resume(conversation_id: str) -> Response:
    """Resume the reply in flight (useChat's `resume: true`); 204 when there is none."""
    owner = context.owner()
    response = await context.app().replies.resume(owner, conversation_id)
    return response or Response(status=204, headers={"Cache-Control": HEADERS["Cache-Control"]})


@blueprint.post("/chat/<id:conversation_id>/stop")
@document_raw_responses({204: NOTHING})
@validate_response(Message)
async def stop(conversation_id: str) -> dict[str, Any] | Response:
    """Stop the reply in flight wherever it runs; it is stored `partial` and returned."""
    owner = context.owner()
    saved = await context.app().replies.stop(owner, conversation_id)
    if saved is None:
        return Response(status=204)
    return await messages.with_place(context.db(), saved)
