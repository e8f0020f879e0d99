"""`POST /chat`: stream a reply as the AI SDK UI message stream."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, Tag, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from quart import Blueprint, Response
from quart_schema import validate_request

from .. import context
from ..chat import Ask, start_turn
from ..errors import ValidationFailed
from ..prompt_variables import NAME
from ..ratelimit import chat_limited
from ..schemas import SSE_EVENT, Body, Content, MessageId, Name, document_raw_responses

blueprint = Blueprint("chat", __name__)

Trigger = Literal["submit-message", "regenerate-message"]
ConversationId = Annotated[str, Field(min_length=1, max_length=64)]
# Values for the `{{name}}` placeholders of the system prompt.
PromptVariables = Annotated[
    dict[Annotated[str, Field(pattern=f"^{NAME}$")], Content], Field(max_length=100)
]


class ChatIn(Body):
    """`{"conversation_id", "message"}`; with `"trigger": "regenerate-message"` no message.
    `edit_of` names a stored user message that `message` is a new version of."""

    conversation_id: ConversationId
    message: Content | None = None
    edit_of: MessageId | None = None
    trigger: Trigger = "submit-message"
    model: Name | None = None
    prompt_variables: PromptVariables = {}


class UIPart(BaseModel):
    # Parts of other types (files, data, steps) carry other fields; only text is read.
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class UIMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    parts: list[UIPart] = []


class UseChatIn(Body):
    """The body the AI SDK's `useChat` sends: only the last message is read. `messageId` (an
    edit, `sendMessage({text, messageId})`, or `regenerate({messageId})`) names a stored
    message."""

    id: ConversationId
    messages: list[UIMessage] = []
    trigger: Trigger = "submit-message"
    messageId: MessageId | None = None
    model: Name | None = None
    prompt_variables: PromptVariables = {}


def _shape(body: Any) -> str:
    return "use_chat" if isinstance(body, dict) and "messages" in body else "message"


class ChatBody(
    RootModel[
        Annotated[
            Annotated[ChatIn, Tag("message")] | Annotated[UseChatIn, Tag("use_chat")],
            Discriminator(_shape),
        ]
    ]
):
    """Either body shape; which one is told by the presence of `messages`."""


_content = TypeAdapter(Content)


# Failures before the stream starts are the error shape (every operation's `default`);
# later ones are `error` parts of the stream itself.
STREAM_RESPONSE = {
    "description": "The reply, as Server-Sent Events of the AI SDK UI message stream (v1),"
    " ending with `data: [DONE]`.",
    "content": {"text/event-stream": {"schema": SSE_EVENT}},
}


@blueprint.post("/chat")
@validate_request(ChatBody)
@document_raw_responses({200: STREAM_RESPONSE})
@chat_limited  # PROMPTKIT_RATE_LIMIT, instead of the API limit
async def chat(data: ChatBody) -> Response:
    """Send a user message and stream the reply (Server-Sent Events, UI message stream v1)."""
    app = context.app()
    turn = await start_turn(app, context.principal(), _ask(data.root))
    return await app.replies.respond(turn)


def _ask(data: ChatIn | UseChatIn) -> Ask:
    where: list[str | int]
    if isinstance(data, ChatIn):
        conversation_id, text, where = data.conversation_id, data.message, ["body", "message"]
        branch_at = data.edit_of
    else:
        conversation_id, where = data.id, ["body", "messages", -1, "parts"]
        branch_at = data.messageId
        last = data.messages[-1] if data.messages else None
        text = None
        if last is not None and last.role == "user":
            text = "".join(p.text or "" for p in last.parts if p.type == "text")
    if data.trigger == "regenerate-message":
        return Ask(conversation_id, None, data.model, data.prompt_variables, branch_at)
    if text is None or not text.strip():
        raise ValidationFailed(
            "the message must not be empty",
            details=[{"loc": where, "msg": "a non-empty user message is required"}],
        )
    try:
        text = _content.validate_python(text)
    except PydanticValidationError as error:
        details = [{"loc": where, "msg": item["msg"]} for item in error.errors()]
        raise ValidationFailed("the message is invalid", details=details) from None
    return Ask(conversation_id, text, data.model, data.prompt_variables, branch_at)
