"""`POST /chat`: stream a reply as the AI SDK UI message stream."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal
from urllib.parse import unquote_to_bytes

from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, Tag, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from quart import Blueprint, Response
from quart_schema import validate_request

from .. import context
from ..attachments import AttachedFile, FileRef, InlineFile, file_id_of
from ..chat import Ask, start_turn
from ..errors import ValidationFailed
from ..prompt_variables import NAME
from ..ratelimit import chat_limited
from ..schemas import SSE_EVENT, Body, Content, MessageId, Name, document_raw_responses
from ..stored_files import MEDIA_TYPE, display_name

blueprint = Blueprint("chat", __name__)

Trigger = Literal["submit-message", "regenerate-message"]
ConversationId = Annotated[str, Field(min_length=1, max_length=64)]
# Values for the `{{name}}` placeholders of the system prompt.
PromptVariables = Annotated[
    dict[Annotated[str, Field(pattern=f"^{NAME}$")], Content], Field(max_length=100)
]
FileId = Annotated[str, Field(min_length=1, max_length=64)]
# A hard cap on the list; PROMPTKIT_MAX_ATTACHMENTS is the limit that counts (a clear 422).
FileIds = Annotated[list[FileId], Field(max_length=100)]
# `data:[<media type>][;base64],<data>`
DATA_URL = re.compile(
    r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^;,]*)*?)(?P<b64>;base64)?,"
)


class ChatIn(Body):
    """`{"conversation_id", "message"}`; with `"trigger": "regenerate-message"` no message.
    `edit_of` names a stored user message that `message` is a new version of."""

    conversation_id: ConversationId
    message: Content | None = None
    edit_of: MessageId | None = None
    trigger: Trigger = "submit-message"
    model: Name | None = None
    prompt_variables: PromptVariables = {}
    file_ids: FileIds = []  # files of the conversation's project, attached to the message


class UIPart(BaseModel):
    # Parts of other types (data, steps) carry other fields; text and files are read.
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None
    # A `file` part: a promptkit file URL (`/files/{id}/content`) or a `data:` URL.
    url: str | None = None
    mediaType: str | None = None
    filename: str | None = None


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
    attached: list[AttachedFile]
    if isinstance(data, ChatIn):
        conversation_id, text, where = data.conversation_id, data.message, ["body", "message"]
        attached = [FileRef(file_id) for file_id in data.file_ids]
        branch_at = data.edit_of
    else:
        conversation_id, where = data.id, ["body", "messages", -1, "parts"]
        branch_at = data.messageId
        last = data.messages[-1] if data.messages else None
        text, attached = None, []
        if last is not None and last.role == "user":
            text = "".join(p.text or "" for p in last.parts if p.type == "text")
            attached = [
                _attached(part, index)
                for index, part in enumerate(last.parts)
                if part.type == "file"
            ]
    if data.trigger == "regenerate-message":
        return Ask(conversation_id, None, data.model, data.prompt_variables, branch_at=branch_at)
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
    return Ask(
        conversation_id,
        text,
        data.model,
        data.prompt_variables,
        files=tuple(attached),
        branch_at=branch_at,
    )


def _attached(part: UIPart, index: int) -> AttachedFile:
    """A useChat `file` part: a file already uploaded, or one sent inline as a `data:` URL."""
    where = ["body", "messages", -1, "parts", index, "url"]
    url = part.url or ""
    file_id = file_id_of(url)
    if file_id is not None:
        return FileRef(file_id)
    match = DATA_URL.match(url)
    if match is None:
        message = (
            "a file part's url must be a promptkit file URL (/files/{id}/content) or a data: URL"
        )
        raise ValidationFailed(message, details=[{"loc": where, "msg": message}])
    payload = url[match.end() :]
    try:
        data = (
            base64.b64decode(payload, validate=True) if match["b64"] else unquote_to_bytes(payload)
        )
    except binascii.Error:
        message = "the data: URL is not valid base64"
        raise ValidationFailed(message, details=[{"loc": where, "msg": message}]) from None
    if not data:
        message = "the attached file is empty"
        raise ValidationFailed(message, details=[{"loc": where, "msg": message}])
    media_type = part.mediaType or match["type"] or "application/octet-stream"
    if not MEDIA_TYPE.fullmatch(media_type):
        message = f"{media_type!r} is not a media type"
        raise ValidationFailed(message, details=[{"loc": where, "msg": message}])
    return InlineFile(display_name(part.filename), media_type.lower(), data)
