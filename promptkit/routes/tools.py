"""`GET /tools`: the tools that projects may enable."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from quart import Blueprint
from quart_schema import validate_response

from .. import context
from ..schemas import ToolOut

blueprint = Blueprint("tools", __name__)


class ToolList(BaseModel):
    data: list[ToolOut]


@blueprint.get("/tools")
@validate_response(ToolList)
async def list_tools() -> dict[str, Any]:
    """List the registered tools (those PROMPTKIT_TOOLS allows) with their input schemas."""
    tools = context.app().tools.available()
    return {
        "data": [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in tools
        ]
    }
