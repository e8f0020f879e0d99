"""Prompts: `/projects/{id}/prompts`, `/prompts/{id}`, atomic activation, and versions."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from .. import context
from ..db import projects
from ..db import prompts as q
from ..db.projects import ProjectRow
from ..db.prompts import PromptRow, PromptVersionRow
from ..errors import NotFound
from ..schemas import ListQuery, Page, Prompt, PromptIn, PromptPatch, PromptVersion
from . import PageOf, found, page

blueprint = Blueprint("prompts", __name__)


async def _my_project(project_id: str) -> ProjectRow:
    return found(await projects.get(context.db(), context.owner(), project_id), "project")


@blueprint.get("/projects/<id:project_id>/prompts")
@validate_querystring(ListQuery)
@validate_response(Page[Prompt])
async def list_prompts(project_id: str, query_args: ListQuery) -> PageOf[PromptRow]:
    """List the prompts of a project, newest first."""
    await _my_project(project_id)
    rows, cursor = await q.list_page(
        context.db(),
        context.owner(),
        project_id,
        limit=query_args.limit,
        cursor=query_args.cursor,
    )
    return page(rows, cursor)


@blueprint.post("/projects/<id:project_id>/prompts")
@validate_request(PromptIn)
@validate_response(Prompt, 201)
async def create_prompt(project_id: str, data: PromptIn) -> tuple[PromptRow, int]:
    """Create a prompt; with `is_active` it becomes the project's system prompt."""
    row = await q.create(
        context.db(),
        context.owner(),
        project_id,
        name=data.name,
        content=data.content,
        is_active=data.is_active,
    )
    return found(row, "project"), 201


@blueprint.get("/prompts/<id:prompt_id>")
@validate_response(Prompt)
async def get_prompt(prompt_id: str) -> PromptRow:
    """Read a prompt."""
    return found(await q.get(context.db(), context.owner(), prompt_id), "prompt")


@blueprint.patch("/prompts/<id:prompt_id>")
@validate_request(PromptPatch)
@validate_response(Prompt)
async def update_prompt(prompt_id: str, data: PromptPatch) -> PromptRow:
    """Edit a prompt's name or content; new content becomes the prompt's next version."""
    changes = data.model_dump(exclude_none=True)
    owner = context.owner()
    if not changes:
        return found(await q.get(context.db(), owner, prompt_id), "prompt")
    return found(await q.update(context.db(), owner, prompt_id, changes), "prompt")


@blueprint.delete("/prompts/<id:prompt_id>")
async def delete_prompt(prompt_id: str) -> tuple[str, int]:
    """Delete a prompt."""
    if not await q.delete(context.db(), context.owner(), prompt_id):
        raise NotFound("prompt not found")
    return "", 204


@blueprint.post("/prompts/<id:prompt_id>/activate")
@validate_response(Prompt)
async def activate_prompt(prompt_id: str) -> PromptRow:
    """Make this prompt the project's one active (system) prompt, atomically."""
    row = await q.activate(context.db(), context.owner(), prompt_id)
    return found(row, "prompt")


@blueprint.get("/prompts/<id:prompt_id>/versions")
@validate_querystring(ListQuery)
@validate_response(Page[PromptVersion])
async def list_versions(prompt_id: str, query_args: ListQuery) -> PageOf[PromptVersionRow]:
    """List a prompt's versions, newest first."""
    owner = context.owner()
    found(await q.get(context.db(), owner, prompt_id), "prompt")
    rows, cursor = await q.list_versions(
        context.db(), owner, prompt_id, limit=query_args.limit, cursor=query_args.cursor
    )
    return page(rows, cursor)


@blueprint.get("/prompts/<id:prompt_id>/versions/<int(min=1, max=2147483647):version>")
@validate_response(PromptVersion)
async def get_version(prompt_id: str, version: int) -> PromptVersionRow:
    """Read one version of a prompt."""
    row = await q.get_version(context.db(), context.owner(), prompt_id, version)
    return found(row, "prompt version")


@blueprint.post("/prompts/<id:prompt_id>/versions/<int(min=1, max=2147483647):version>/restore")
@validate_response(Prompt)
async def restore_version(prompt_id: str, version: int) -> PromptRow:
    """Make an earlier version the prompt's content again, as a new version."""
    row = await q.restore(context.db(), context.owner(), prompt_id, version)
    return found(row, "prompt version")
