"""The tools themselves: each one's input model (pydantic) and its function."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from promptkit import Tool, ToolContext

from .arithmetic import evaluate


class Expression(BaseModel):
    expression: str = Field(max_length=500, description="e.g. (2 + 3) * 4 / 7")


class TimeZone(BaseModel):
    time_zone: str = Field("UTC", max_length=64, description="an IANA name, e.g. Europe/Paris")


class NoInput(BaseModel):
    pass


async def calculate(given: Expression, context: ToolContext) -> dict[str, Any]:
    return {"expression": given.expression, "value": evaluate(given.expression)}


async def current_time(given: TimeZone, context: ToolContext) -> dict[str, str]:
    try:
        zone = ZoneInfo(given.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {given.time_zone!r}") from None
    now = datetime.now(UTC).astimezone(zone)
    return {"time_zone": given.time_zone, "iso": now.isoformat(), "weekday": now.strftime("%A")}


async def project_files(given: NoInput, context: ToolContext) -> dict[str, Any]:
    files = await context.list_project_files()
    return {"files": files, "count": len(files)}


TOOLS = [
    Tool("calculate", "Evaluate an arithmetic expression exactly.", Expression, calculate),
    Tool("current_time", "The current date and time in a time zone.", TimeZone, current_time),
    Tool(
        "project_files",
        "List the files of the current project: name, size in bytes, media type.",
        NoInput,
        project_files,
    ),
]
