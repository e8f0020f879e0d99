"""Streaming a reply through the official `anthropic` SDK."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from promptkit import (
    Capabilities,
    ChatRequest,
    Model,
    ProviderError,
    ReasoningDelta,
    StreamEnd,
    ToolCallDelta,
)

from .messages import file_blocks, to_anthropic, to_anthropic_tools

if TYPE_CHECKING:
    import anthropic

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 4096
CONTEXT_WINDOW = 200_000
# Images, PDFs and text files in, tools, and (from Claude 3.7 and the 4 family on) extended
# thinking.
ATTACHMENTS = (
    "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
    "text/*", "application/json", "application/xml", "application/yaml",
)  # fmt: skip
THINKING = ("claude-3-7", "claude-sonnet-4", "claude-opus-4", "claude-haiku-4")


def describe(model_id: str, display_name: str | None = None) -> Model:
    return Model(
        id=model_id,
        display_name=display_name,
        capabilities=Capabilities(
            tools=True, attachments=ATTACHMENTS, reasoning=model_id.startswith(THINKING)
        ),
        context_window=CONTEXT_WINDOW,
    )


class Provider:
    """One SDK client per app: it keeps a connection pool, so it is made once and closed once."""

    def __init__(
        self, client: anthropic.AsyncAnthropic, max_tokens: int, thinking_tokens: int | None = None
    ) -> None:
        self.client = client
        self.max_tokens = max_tokens
        self.thinking_tokens = thinking_tokens

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Provider:
        import anthropic  # imported here so that `promptkit --help` stays fast

        client = anthropic.AsyncAnthropic(
            api_key=environ["ANTHROPIC_API_KEY"],
            base_url=environ.get("ANTHROPIC_BASE_URL") or None,
        )
        return cls(
            client,
            _max_tokens(environ.get("PROMPTKIT_ANTHROPIC_MAX_TOKENS")),
            _thinking_tokens(environ.get("PROMPTKIT_ANTHROPIC_THINKING_TOKENS")),
        )

    async def close(self) -> None:
        await self.client.close()

    async def list_models(self) -> list[tuple[str, str | None]]:
        """The ids and display names of `GET /v1/models`; a safe `ProviderError` when it fails."""
        import anthropic

        try:
            client = self.client.with_options(timeout=10.0, max_retries=0)
            return [(model.id, model.display_name) async for model in client.models.list()]
        except anthropic.APIError as error:
            raise ProviderError(f"listing models failed: {safe_message(error)}") from None

    async def stream(self, chat: ChatRequest) -> AsyncIterator[str | Item]:
        """Yield each text, thinking and tool-input delta as it arrives, then one StreamEnd;
        SDK errors become safe ones."""
        import anthropic

        system, turns = to_anthropic(chat.messages, await file_blocks(chat.messages))
        max_tokens = min(self.max_tokens, chat.max_tokens or self.max_tokens)
        try:
            # Leaving the `async with` closes the upstream response, also when promptkit stops
            # iterating because its client went away (GeneratorExit or CancelledError).
            async with self.client.messages.stream(
                model=chat.model,
                # promptkit's cap (a token budget reserved it) wins over a larger own setting.
                max_tokens=max_tokens,
                messages=turns,  # type: ignore[arg-type]
                system=system if system else anthropic.omit,
                tools=to_anthropic_tools(chat.tools) if chat.tools else anthropic.omit,  # type: ignore[arg-type]
                thinking=self._thinking(chat, max_tokens),  # type: ignore[arg-type]
            ) as stream:
                calls: dict[int, str] = {}  # a tool_use block's index -> its id
                async for event in stream:
                    if event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            calls[event.index] = block.id
                            yield ToolCallDelta(call_id=block.id, name=block.name)
                    elif event.type == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta":
                            yield delta.text
                        elif delta.type == "thinking_delta":
                            yield ReasoningDelta(delta.thinking)
                        # A server tool's block streams its input too: not ours to run.
                        elif delta.type == "input_json_delta" and event.index in calls:
                            yield ToolCallDelta(calls[event.index], delta.partial_json)
                final = await stream.get_final_message()
        except anthropic.APIError as error:
            # The class and status tell an operator what happened; the upstream text is not
            # logged or chained, as it may quote a credential.
            log.warning(
                "anthropic stream failed: %s %s",
                type(error).__name__,
                getattr(error, "status_code", ""),
            )
            raise ProviderError(safe_message(error)) from None
        yield StreamEnd(
            finish_reason=finish_reason(final.stop_reason),
            model=final.model,
            usage={
                "prompt_tokens": final.usage.input_tokens,
                "completion_tokens": final.usage.output_tokens,
            },
        )

    def _thinking(self, chat: ChatRequest, max_tokens: int) -> Any:
        """Extended thinking, when set and the model has it. Not in a turn with tools: the API
        then wants each step's signed thinking blocks sent back with the tool results, and
        promptkit's history keeps the thinking text only."""
        import anthropic

        budget = self.thinking_tokens
        if budget is None or chat.tools or not chat.model.startswith(THINKING):
            return anthropic.omit
        # The budget must stay below the reply's cap; 1024 is the API's least.
        budget = min(budget, max_tokens - 1)
        if budget < 1024:
            return anthropic.omit
        return {"type": "enabled", "budget_tokens": budget}


Item = StreamEnd | ReasoningDelta | ToolCallDelta


def _max_tokens(value: str | None) -> int:
    if not value:
        return DEFAULT_MAX_TOKENS
    if not value.isdigit() or int(value) < 1:
        # Raised at start-up, which then names this plugin: the server never runs half-set.
        raise ValueError("PROMPTKIT_ANTHROPIC_MAX_TOKENS must be a positive whole number")
    return int(value)


def _thinking_tokens(value: str | None) -> int | None:
    if not value:
        return None
    if not value.isdigit() or int(value) < 1024:
        raise ValueError("PROMPTKIT_ANTHROPIC_THINKING_TOKENS must be a whole number, 1024 or more")
    return int(value)


def finish_reason(stop_reason: str | None) -> Literal["stop", "length", "tool-calls"]:
    if stop_reason == "tool_use":
        return "tool-calls"
    return "length" if stop_reason == "max_tokens" else "stop"


def safe_message(error: Exception) -> str:
    """A message for the user that never repeats the upstream text: it may quote the key."""
    import anthropic

    if isinstance(error, anthropic.APIConnectionError):  # includes timeouts
        return "could not reach the Anthropic API"
    if isinstance(error, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return "the Anthropic API refused the credentials (check ANTHROPIC_API_KEY)"
    if isinstance(error, anthropic.RateLimitError):
        return "the Anthropic API is rate limiting requests; try again shortly"
    if isinstance(error, anthropic.NotFoundError):
        return "the Anthropic API does not know this model"
    kind = _error_type(error)
    return f"the Anthropic API failed ({kind})" if kind else "the Anthropic API failed"


def _error_type(error: Exception) -> str | None:
    # The API's error bodies are `{"type": "error", "error": {"type": "overloaded_error", ...}}`;
    # the type is a fixed identifier, safe to show.
    body = getattr(error, "body", None)
    inner = body.get("error") if isinstance(body, dict) else None
    kind = inner.get("type") if isinstance(inner, dict) else None
    return kind if isinstance(kind, str) and kind.replace("_", "").isalnum() else None
