"""promptkit: the backend for prompt-driven chat apps.

A plugin starts with `from promptkit import hookimpl`.
"""

import pluggy

from .errors import AuthenticationError, Conflict, ProviderError, ServiceUnavailable
from .hooktypes import (
    Capabilities,
    ChatMessage,
    ChatRequest,
    HookApp,
    Model,
    Principal,
    ReasoningDelta,
    StoredFile,
    StreamEnd,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Upload,
    public_route,
)
from .tools import Tool, ToolContext

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("promptkit")

__all__ = [
    "AuthenticationError",
    "Capabilities",
    "ChatMessage",
    "ChatRequest",
    "Conflict",
    "HookApp",
    "Model",
    "Principal",
    "ProviderError",
    "ReasoningDelta",
    "ServiceUnavailable",
    "StoredFile",
    "StreamEnd",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolContext",
    "ToolSpec",
    "Upload",
    "__version__",
    "hookimpl",
    "public_route",
]
