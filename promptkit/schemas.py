"""Request and response shapes of the HTTP API (they generate `/openapi.json`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from .db.tables import NAME_MAX

CONTENT_MAX = 200_000


def _printable(value: str) -> str:
    # NUL and other control characters break PostgreSQL text and every UI; tabs/newlines are fine.
    if any(ord(char) < 32 and char not in "\t\n\r" for char in value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    AfterValidator(_printable),
]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=NAME_MAX), AfterValidator(_printable)
]
Content = Annotated[str, StringConstraints(max_length=CONTENT_MAX), AfterValidator(_printable)]


class Body(BaseModel):
    """A JSON body: types are strict (no "true" for true), unknown fields are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")


class ListQuery(BaseModel):
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=512)


class ProjectIn(Body):
    name: Name


ToolName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class PromptIn(Body):
    name: Name
    content: Content
    is_active: bool = False


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent() -> Any:
    """A PATCH field that may be left out but not sent as null: its type has no None, so
    `null` is a 422 like any other wrong type (a default is never validated)."""
    return Field(None, json_schema_extra=_no_default)


class Patch(Body):
    """A PATCH body. The one rule: a field left out is unchanged; null for a field that cannot
    be null is a 422. Every PATCH body derives from this and declares optional fields with
    `absent()`."""


class ProjectPatch(Patch):
    name: Name = absent()
    tools: Annotated[list[ToolName], Field(max_length=128)] = absent()


class PromptPatch(Patch):
    name: Name = absent()
    content: Content = absent()


class ConversationIn(Body):
    title: Title = ""


class ConversationPatch(Patch):
    title: Title


class ProjectOwner(BaseModel):
    """Who owns a project: a user (personal) or an organization; `id` is theirs."""

    kind: Literal["user", "organization"]
    id: str


# What our ids look like (as `routes.IdConverter`): anything else names no message, and odd
# bytes such as NUL never reach a query.
MessageId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class BranchIn(Body):
    """The message whose branch becomes the current one."""

    message_id: MessageId


class Project(BaseModel):
    id: str
    name: str
    owner: ProjectOwner
    tools: list[str]  # the registered tools its chats may call
    created_at: datetime
    updated_at: datetime


class Prompt(BaseModel):
    id: str
    project_id: str
    name: str
    content: str
    is_active: bool
    version: int  # the number of its newest version, whose content `content` is
    created_at: datetime
    updated_at: datetime


class PromptVersion(BaseModel):
    prompt_id: str
    version: int
    content: str
    created_at: datetime
    created_by: str


class MessagePrompt(BaseModel):
    """The system prompt an assistant message was answered by: its exact version, and the
    values filled into its `{{name}}` placeholders."""

    id: str
    version: int
    variables: dict[str, str]


class Conversation(BaseModel):
    id: str
    project_id: str
    title: str
    created_at: datetime
    updated_at: datetime


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    # True when the provider reported no usage and the token budget counted an estimate.
    estimated: bool | None = Field(None, exclude_if=lambda value: value is None)


class BranchPlace(BaseModel):
    """A message's place among its siblings, the messages that follow the same one: its
    versions, made by edits and regenerations."""

    index: int  # 1-based, oldest first
    count: int


class Message(BaseModel):
    id: str
    conversation_id: str
    parent_id: str | None = None  # the message it follows; null for a first message
    role: Literal["user", "assistant"]
    content: str
    status: Literal["complete", "partial", "error"]
    model: str | None
    usage: Usage | None
    prompt: MessagePrompt | None
    # The AI SDK UIMessage parts, as the stream rendered them: `text`, `reasoning`,
    # `step-start`, and `tool-<name>` with `toolCallId`, `state`, `input`, `output`/`errorText`.
    parts: list[dict[str, Any]] = Field(default_factory=list)
    # In the lists of messages (the current branch, the tree); left out elsewhere.
    branch: BranchPlace | None = Field(None, exclude_if=lambda value: value is None)
    created_at: datetime


class ModelCapabilities(BaseModel):
    streaming: bool
    tools: bool
    attachments: list[str]  # media types or ranges (`image/*`); empty: text only
    reasoning: bool


class ModelOut(BaseModel):
    id: str
    display_name: str
    name: str  # the same as display_name, for pickers that read `name`
    provider: str  # the plugin that serves it
    aliases: list[str]
    capabilities: ModelCapabilities
    context_window: int | None
    default: bool  # what a chat that names no model gets


class ModelList(BaseModel):
    data: list[ModelOut]


class BudgetWindow(BaseModel):
    window: str | None  # "1 day"; null when no budget is set
    limit: int | None
    used: int  # settled tokens of finished replies in this window
    reserved: int  # held by replies still streaming (their worst case)
    remaining: int | None
    resets_at: datetime | None
    by_model: dict[str, int]


class TokenUsage(BudgetWindow):
    """The caller's own budget (PROMPTKIT_TOKEN_BUDGET) and, with an active organization that
    has one (PROMPTKIT_ORG_TOKEN_BUDGET), the organization's, which every member's chats share."""

    organization: BudgetWindow | None = None


class ToolOut(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]


class SearchHit(BaseModel):
    conversation: Conversation
    message_id: str | None  # None when only the title matched
    snippet: str  # plain text; `highlights` are [start, end) offsets into it, in code points
    highlights: list[tuple[int, int]]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[Any] | None = None


class Error(BaseModel):
    error: ErrorBody


# A view's responses that quart-schema cannot describe (it knows JSON bodies only), as raw
# OpenAPI response objects by status; the app's OpenAPI provider merges them in.
OPENAPI_RESPONSES = "promptkit_openapi_responses"


View = TypeVar("View")


# One event of a `text/event-stream` answer, as OpenAPI tools read each event: its `data` is
# a UI message stream part as JSON text, or the literal `[DONE]` that ends the stream.
SSE_EVENT = {
    "type": "object",
    "properties": {
        "data": {"type": "string"},
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}


def document_raw_responses(responses: dict[int, dict[str, Any]]) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        setattr(view, OPENAPI_RESPONSES, responses)
        return view

    return decorate
