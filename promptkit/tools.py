"""The tool registry: the tools that plugins register, and what a running tool may reach.

A plugin's `register_tools(register)` hookimpl calls `register(Tool(...))` for each tool. The
kernel runs them (see `chat.tool_loop`), never the provider plugin. A tool gets its parsed input
and a `ToolContext`, which reaches the caller's own data only through functions the kernel
scoped to the principal: never the database itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from .hooktypes import Principal, ToolSpec

if TYPE_CHECKING:  # pydantic is loaded by the server, not by the command line's start
    from pydantic import BaseModel

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what OpenAI and Anthropic both accept


class ToolInputError(ValueError):
    """The model's arguments are not JSON, or do not match the tool's input schema."""


@dataclass(frozen=True)
class ToolContext:
    """What a running tool knows of its call. `list_project_files()` lists the calling
    project's files (`filename`, `size_bytes`, `content_type`), read as the principal."""

    principal: Principal
    project_id: str
    conversation_id: str
    log: logging.Logger
    list_project_files: Callable[[], Awaitable[list[dict[str, Any]]]] = field(repr=False)


ToolFunction = Callable[[Any, ToolContext], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    """A tool a model may call.

    `input` is a pydantic model (the function then gets an instance of it) or a JSON Schema
    (the function gets the parsed JSON object, checked against it). The function is
    `async def`, returns something JSON can encode, and raises to report a failure: the model
    then gets an error result with the exception's message.
    """

    name: str
    description: str
    input: type[BaseModel] | dict[str, Any]
    function: ToolFunction

    @property
    def input_schema(self) -> dict[str, Any]:
        if isinstance(self.input, dict):
            return self.input
        return self.input.model_json_schema()

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.input_schema)

    def parse(self, arguments: str) -> Any:
        """The function's input from the model's JSON text; ToolInputError when it is wrong."""
        if isinstance(self.input, dict):
            import jsonschema

            try:
                value = orjson.loads(arguments or "{}")
            except orjson.JSONDecodeError:
                raise ToolInputError("the arguments are not valid JSON") from None
            try:
                jsonschema.validate(value, self.input)
            except jsonschema.ValidationError as error:
                message = f"the arguments do not match the schema: {error.message}"
                raise ToolInputError(message) from None
            return value
        from pydantic import ValidationError

        try:
            return self.input.model_validate_json(arguments or "{}")
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, item['loc'])) or 'input'}: {item['msg']}"
                for item in error.errors()
            )
            raise ToolInputError(f"the arguments do not match the schema: {problems}") from None


class ToolRegistryError(RuntimeError):
    """Two plugins registered one name, or a tool is not well formed."""


class Registry:
    """The registered tools, by name, with the plugin that registered each."""

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        self._tools: dict[str, tuple[Tool, str]] = {}
        self._allowed = frozenset(allowed) if allowed is not None else None

    def register(self, tool: Tool, plugin: str) -> None:
        if not isinstance(tool, Tool):
            raise ToolRegistryError(f"plugin {plugin!r} registered {type(tool).__name__}, not Tool")
        if not NAME.match(tool.name):
            raise ToolRegistryError(
                f"plugin {plugin!r}: the tool name {tool.name!r} must be 1 to 64 letters, "
                "digits, '_' or '-'"
            )
        if tool.name in self._tools:
            other = self._tools[tool.name][1]
            raise ToolRegistryError(
                f"the tool name {tool.name!r} is registered by both plugin {other!r} "
                f"and plugin {plugin!r}"
            )
        self._tools[tool.name] = (tool, plugin)

    def check_allowed(self) -> None:
        """PROMPTKIT_TOOLS may only name registered tools (a typo would silently allow none)."""
        unknown = sorted((self._allowed or frozenset()) - set(self._tools))
        if unknown:
            raise ToolRegistryError(
                f"PROMPTKIT_TOOLS names {', '.join(map(repr, unknown))}, which no plugin "
                f"registers; the registered tools are: {', '.join(sorted(self._tools)) or 'none'}"
            )

    def available(self) -> list[Tool]:
        """The tools a project may enable, by name."""
        return [
            tool
            for name, (tool, _) in sorted(self._tools.items())
            if self._allowed is None or name in self._allowed
        ]

    def get(self, name: str) -> Tool | None:
        found = self._tools.get(name)
        if found is None or (self._allowed is not None and name not in self._allowed):
            return None
        return found[0]

    def plugin_of(self, name: str) -> str | None:
        found = self._tools.get(name)
        return found[1] if found else None

    def enabled(self, names: Iterable[str]) -> list[Tool]:
        """A project's tools that are still registered and allowed (a plugin may be gone)."""
        return [tool for name in names if (tool := self.get(name)) is not None]
