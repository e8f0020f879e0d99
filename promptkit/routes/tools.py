"""`GET /tools`: the tools that projects may enable."""

from __future__ import annotations

from typing import Any, TypedDict

from pydantic import BaseModel
from quart import Blueprint
from quart_schema import validate_response

from .. import context
from ..schemas import ToolOut
from . import ListOf

blueprint = Blueprint("tools", __name__)


class ToolList(BaseModel):
    data: list[ToolOut]


class ToolRow(TypedDict):
    """A tool as `GET /tools` shows it (`schemas.ToolOut`)."""

    name: str
    description: str
    input_schema: dict[str, Any]


@blueprint.get("/tools")
@validate_response(ToolList)
async def list_tools() -> ListOf[ToolRow]:
    """List the registered tools (those PROMPTKIT_TOOLS allows) with their input schemas."""
    tools = context.app().tools.available()
    return {
        "data": [
            ToolRow(name=t.name, description=t.description, input_schema=t.input_schema)
            for t in tools
        ]
    }
