"""Errors that carry their HTTP status and a message that is safe to show to a client."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message"}}` with `status`."""

    status = 500
    code = "internal_error"
    # Seconds after which a retry may succeed, sent as `Retry-After` (None: no header).
    retry_after: int | None = None

    def __init__(self, message: str, *, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class AuthenticationError(ApiError):
    """No credential, or one that fails a check. Plugins raise it from `authenticate`."""

    status, code = 401, "unauthenticated"


class Forbidden(ApiError):
    """The caller sees the object but their role may not do this to it."""

    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(ApiError):
    status, code = 422, "validation_error"


class RateLimited(ApiError):
    """Too many requests; `retry_after` seconds until the next one is allowed."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after: int = retry_after


class ProviderError(ApiError):
    """An outside service (LLM, file store) failed. Plugins raise it with a safe message."""

    status, code = 502, "provider_error"


class ServiceUnavailable(ApiError):
    status, code = 503, "service_unavailable"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MissingPromptVariable(ValidationFailed):
    """The system prompt has a `{{name}}` placeholder that the chat request gave no value for."""

    code = "missing_prompt_variable"


class UnknownModel(ValidationFailed):
    """The chat names a model that no plugin registered, or that `PROMPTKIT_MODELS` leaves out."""

    code = "unknown_model"


class UnsupportedAttachment(ValidationFailed):
    """A file attached to a chat is of a media type that the chosen model cannot read."""

    code = "unsupported_attachment"


class BudgetExhausted(RateLimited):
    """The caller's token budget cannot hold this reply's worst case until the window ends."""

    code = "budget_exhausted"
