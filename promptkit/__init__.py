"""promptkit: the backend for prompt-driven chat apps.

A plugin starts with `from promptkit import hookimpl`.
"""

import pluggy

from .errors import AuthenticationError, Conflict, ProviderError, ServiceUnavailable
from .hooktypes import (
    Attachment,
    Capabilities,
    ChatMessage,
    ChatRequest,
    HookApp,
    Host,
    Model,
    Principal,
    ReasoningDelta,
    StoredFile,
    StreamEnd,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Upload,
    is_text_media_type,
    public_route,
)
from .tools import Tool, ToolContext

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("promptkit")

__all__ = [
    "Attachment",
    "AuthenticationError",
    "Capabilities",
    "ChatMessage",
    "ChatRequest",
    "Conflict",
    "HookApp",
    "Host",
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
    "is_text_media_type",
    "public_route",
]
