"""`GET /models` (the allowed models, for a model picker) and `GET /usage` (my token budget)."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import validate_response

from .. import context
from ..budget import UsageRow
from ..models import ModelRow, shape
from ..schemas import ModelList, TokenUsage
from . import ListOf

blueprint = Blueprint("models", __name__)


@blueprint.get("/models")
@validate_response(ModelList)
async def list_models() -> ListOf[ModelRow]:
    """List the models a chat may name, with their capabilities; the default one is marked."""
    registry = context.app().models
    return {"data": [shape(model, registry.default) for model in registry.allowed()]}


@blueprint.get("/usage")
@validate_response(TokenUsage)
async def usage() -> UsageRow:
    """My tokens used and left in the current budget window, per model; with an active
    organization that has a budget, the organization's too."""
    principal = context.principal()
    return await context.app().budgets.usage(principal.user_id, principal.org_id)
