"""promptkit: the backend for prompt-driven chat apps.

A plugin starts with `from promptkit import hookimpl`.
"""

import pluggy

from .errors import AuthenticationError, Conflict, ProviderError, ServiceUnavailable
from .hooktypes import (
    Capabilities,
    ChatMessage,
    ChatRequest,
    Model,
    Principal,
    StoredFile,
    StreamEnd,
    Upload,
    public_route,
)

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("promptkit")

__all__ = [
    "AuthenticationError",
    "Capabilities",
    "ChatMessage",
    "ChatRequest",
    "Conflict",
    "Model",
    "Principal",
    "ProviderError",
    "ServiceUnavailable",
    "StoredFile",
    "StreamEnd",
    "Upload",
    "__version__",
    "hookimpl",
    "public_route",
]
