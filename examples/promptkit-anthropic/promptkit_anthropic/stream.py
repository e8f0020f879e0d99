"""Streaming a reply through the official `anthropic` SDK."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Literal

from promptkit import Capabilities, ChatRequest, Model, ProviderError, StreamEnd

from .messages import file_blocks, to_anthropic

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

    def __init__(self, client: anthropic.AsyncAnthropic, max_tokens: int) -> None:
        self.client = client
        self.max_tokens = max_tokens

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Provider:
        import anthropic  # imported here so that `promptkit --help` stays fast

        client = anthropic.AsyncAnthropic(
            api_key=environ["ANTHROPIC_API_KEY"],
            base_url=environ.get("ANTHROPIC_BASE_URL") or None,
        )
        return cls(client, _max_tokens(environ.get("PROMPTKIT_ANTHROPIC_MAX_TOKENS")))

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

    async def stream(self, chat: ChatRequest) -> AsyncIterator[str | StreamEnd]:
        """Yield each text delta as it arrives, then one StreamEnd; SDK errors become safe ones."""
        import anthropic

        system, turns = to_anthropic(chat.messages, await file_blocks(chat.messages))
        try:
            # Leaving the `async with` closes the upstream response, also when promptkit stops
            # iterating because its client went away (GeneratorExit or CancelledError).
            async with self.client.messages.stream(
                model=chat.model,
                # promptkit's cap (a token budget reserved it) wins over a larger own setting.
                max_tokens=min(self.max_tokens, chat.max_tokens or self.max_tokens),
                messages=turns,  # type: ignore[arg-type]
                system=system if system else anthropic.omit,
            ) as stream:
                async for text in stream.text_stream:
                    yield text
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


def _max_tokens(value: str | None) -> int:
    if not value:
        return DEFAULT_MAX_TOKENS
    if not value.isdigit() or int(value) < 1:
        # Raised at start-up, which then names this plugin: the server never runs half-set.
        raise ValueError("PROMPTKIT_ANTHROPIC_MAX_TOKENS must be a positive whole number")
    return int(value)


def finish_reason(stop_reason: str | None) -> Literal["stop", "length"]:
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
