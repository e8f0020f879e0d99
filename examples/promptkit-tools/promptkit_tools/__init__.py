"""A small set of tools for promptkit's tool loop.

- `calculate`: arithmetic on numbers (`+ - * / // % **`, parentheses), read by a parser of
  its own: never `eval`, no names, no calls, bounded sizes.
- `current_time`: the date and time now in an IANA time zone.
- `project_files`: the names, sizes and types of the calling project's files, read through
  the kernel's scoped API in the tool's context (never another user's).

A project enables them with `PATCH /projects/{id}` `{"tools": ["calculate", ...]}`.
"""

from __future__ import annotations

from promptkit import hookimpl


@hookimpl
def register_tools(register):
    # Imported here, as the server starts: the tools' input models need pydantic, and the
    # command line loads every plugin for `promptkit --help`.
    from .tools import TOOLS

    for tool in TOOLS:
        register(tool)
