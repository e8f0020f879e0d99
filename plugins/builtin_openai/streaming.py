"""One streamed chat completion through the SDK's lower layer and its raw response.

The SDK still sends the request: auth, base URL, retries before the first byte (connection
errors, 408, 429, 5xx) and mapping HTTP errors to exceptions. It is asked through `client.post`
with `cast_to=httpx2.Response` (the SDK's documented way to make a request it does not type),
and the body goes as JSON bytes encoded by orjson: `chat.completions.create` would walk its
forty typed parameters (and every message) through the SDK's transform first, about 0.5 ms of
CPU per reply. After that we read the SSE lines ourselves and parse each `data:` payload with
orjson, instead of letting the SDK build a typed object per chunk: that is the hot path of
every reply.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

import orjson

from promptkit import (
    ChatMessage,
    ChatRequest,
    ProviderError,
    ReasoningDelta,
    StreamEnd,
    ToolCallDelta,
)

from .attachments import Body, Parts
from .models import is_reasoning

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)


async def stream_chat(
    client: openai.AsyncOpenAI, chat: ChatRequest, *, openai_file_ids: bool = False
) -> AsyncIterator[str | ReasoningDelta | ToolCallDelta | StreamEnd]:
    """`openai_file_ids`: the OpenAI Files store shares this server and key, so a PDF stored
    there is sent by its file id (see `attachments`)."""
    import httpx2
    import openai

    parts = Parts(openai_file_ids=openai_file_ids)
    body: dict[str, Any] = {
        "model": chat.model,
        "messages": [
            _tool_message(m)
            if m.tool_calls or m.tool_call_id is not None
            else {"role": m.role, "content": await parts.content(m)}
            if m.attachments
            else {"role": m.role, "content": m.content}
            for m in chat.messages
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if chat.max_tokens is not None:
        # OpenAI's reasoning models refuse `max_tokens`; compatible servers know only it.
        cap = "max_completion_tokens" if is_reasoning(chat.model) else "max_tokens"
        body[cap] = chat.max_tokens
    if chat.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.input_schema,
                },
            }
            for tool in chat.tools
        ]
    reply = _Reply(chat.model)
    response: httpx2.Response | None = None
    try:
        response = await client.post(
            "/chat/completions",
            cast_to=httpx2.Response,
            # Attached files stream into the body as they are read; without any, one encode.
            content=Body(body, parts.inline) if parts.inline else orjson.dumps(body),
            stream=True,  # the SDK hands the response over unread; we must close it
        )
        data_lines: list[str] = []
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data_lines.append(line[6:] if line.startswith("data: ") else line[5:])
            elif not line and data_lines:  # a blank line ends an event
                payload = "\n".join(data_lines)
                data_lines.clear()
                if payload.startswith("[DONE]"):
                    break
                delta = reply.take(orjson.loads(payload))
                if reply.other:  # reasoning and tool calls, which precede the chunk's text
                    for item in reply.other:
                        yield item
                    reply.other.clear()
                if delta:
                    yield delta
            # anything else is a comment (": ping") or a field chat completions do not use
    except ProviderError:
        raise
    except openai.APIStatusError as error:
        log.warning("chat completion refused: HTTP %s, code %s", error.status_code, error.code)
        raise ProviderError(_status_message(error, chat.model)) from None
    except openai.APITimeoutError as error:
        if _refused(error):  # the aiohttp transport reports a refused connection as a timeout
            log.warning("chat completion could not connect")
            raise ProviderError("could not reach the model provider") from None
        log.warning("chat completion timed out before the first byte")
        raise ProviderError("the model provider did not answer in time") from None
    except openai.APIConnectionError:
        log.warning("chat completion could not connect")
        raise ProviderError("could not reach the model provider") from None
    except Exception as error:  # the transport broke mid-stream, or a chunk was not JSON
        log.warning("chat completion stream broke off: %s", type(error).__name__)
        raise ProviderError("the model provider's stream broke off") from None
    finally:
        # Also on cancellation (the client went away): the upstream request stops at once.
        if response is not None:
            await response.aclose()
    if not reply.done:
        raise ProviderError("the model provider's stream ended early")
    yield reply.end()


def _refused(error: BaseException) -> bool:
    """Was the connection refused or unroutable (an OS error other than a timeout) at the root?"""
    cause = error.__cause__ or error.__context__
    while cause is not None:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


class _Reply:
    """What the chunks said so far, besides the text: finish reason, model, usage."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.finish_reason: str | None = None
        self.usage: dict[str, int] | None = None
        self.done = False
        self.other: list[ReasoningDelta | ToolCallDelta] = []  # what a chunk held besides text
        self._calls: dict[int, str] = {}  # a tool call's id by its `index` in the stream

    def take(self, chunk: dict[str, Any]) -> str:
        """The text of one chunk; remembers the rest."""
        if chunk.get("error"):
            log.warning("chat completion sent an error event mid-stream")
            raise ProviderError("the model provider failed while answering")
        text = ""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            if len(delta) > 2 or "content" not in delta:  # more than role and content
                self._take_other(delta)
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        if self.finish_reason:
            self.done = True  # some servers omit [DONE]; a finish reason is as good
        usage = chunk.get("usage")
        if usage:
            self.usage = {
                "prompt_tokens": int(usage.get("prompt_tokens") or 0),
                "completion_tokens": int(usage.get("completion_tokens") or 0),
            }
        self.model = chunk.get("model") or self.model
        return text

    def _take_other(self, delta: dict[str, Any]) -> None:
        # vLLM, Ollama and DeepSeek send reasoning under one of these two names.
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self.other.append(ReasoningDelta(reasoning))
        for call in delta.get("tool_calls") or ():
            index = int(call.get("index") or 0)
            function = call.get("function") or {}
            arguments = function.get("arguments") or ""
            if index not in self._calls:  # the first fragment of a call has its id and name
                self._calls[index] = call.get("id") or f"call_{index}"
                name = function.get("name") or ""
                self.other.append(ToolCallDelta(self._calls[index], arguments, name))
            elif arguments:
                self.other.append(ToolCallDelta(self._calls[index], arguments))

    def end(self) -> StreamEnd:
        reason: Literal["stop", "length", "tool-calls"] = _REASONS.get(
            self.finish_reason or "", "stop"
        )
        return StreamEnd(finish_reason=reason, model=self.model, usage=self.usage)


_REASONS: dict[str, Literal["stop", "length", "tool-calls"]] = {
    "length": "length",
    "tool_calls": "tool-calls",
}


def _tool_message(message: ChatMessage) -> dict[str, Any]:
    """An assistant message with its tool calls, or a tool result, as Chat Completions has them."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    return {
        "role": "assistant",
        "content": message.content or None,
        "tool_calls": [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ],
    }


def _status_message(error: openai.APIStatusError, model: str) -> str:
    """A message safe to show: never the upstream's own text (a 401 quotes part of the key)."""
    status, code = error.status_code, error.code
    if status == 401:
        return "the model provider rejected the API key"
    if status == 403:
        return "the model provider refused access"
    if status == 404:
        return f"the model {model!r} is not available at the provider"
    if status == 429 and code == "insufficient_quota":
        return "the model provider's quota is used up"
    if status == 429:
        return "the model provider is rate limiting requests; try again shortly"
    if status == 400 and code == "context_length_exceeded":
        return "the conversation is too long for the model"
    if status >= 500:
        return "the model provider had an error; try again"
    return f"the model provider refused the request (HTTP {status})"
