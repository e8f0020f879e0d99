"""Projects: `/projects` and `/projects/{id}`."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from .. import context
from ..db import projects as q
from ..errors import ValidationFailed
from ..schemas import ListQuery, Page, Project, ProjectIn, ProjectPatch
from . import files, found, page

blueprint = Blueprint("projects", __name__)


@blueprint.get("/projects")
@validate_querystring(ListQuery)
@validate_response(Page[Project])
async def list_projects(query_args: ListQuery) -> dict[str, Any]:
    """List my projects, newest first."""
    rows, cursor = await q.list_page(
        context.db(), context.owner(), limit=query_args.limit, cursor=query_args.cursor
    )
    return page(rows, cursor)


@blueprint.post("/projects")
@validate_request(ProjectIn)
@validate_response(Project, 201)
async def create_project(data: ProjectIn) -> tuple[dict[str, Any], int]:
    """Create a project."""
    return await q.create(context.db(), context.owner(), data.name), 201


@blueprint.get("/projects/<id:project_id>")
@validate_response(Project)
async def get_project(project_id: str) -> dict[str, Any]:
    """Read a project."""
    return found(await q.get(context.db(), context.owner(), project_id), "project")


@blueprint.patch("/projects/<id:project_id>")
@validate_request(ProjectPatch)
@validate_response(Project)
async def update_project(project_id: str, data: ProjectPatch) -> dict[str, Any]:
    """Rename a project, or choose the tools its chats may call (names from `GET /tools`)."""
    changes = data.model_dump(exclude_unset=True)
    if "tools" in changes:
        registry = context.app().tools
        unknown = [name for name in changes["tools"] if registry.get(name) is None]
        if unknown:
            raise ValidationFailed(
                f"no such tool: {', '.join(unknown)} (GET /tools lists them)",
                details=[{"loc": ["tools"], "msg": f"unknown tool {name!r}"} for name in unknown],
            )
        changes["tools"] = list(dict.fromkeys(changes["tools"]))  # each once, in the given order
    if not changes:
        raise ValidationFailed("send the project's new name or tools")
    row = await q.update(context.db(), context.owner(), project_id, changes)
    return found(row, "project")


@blueprint.delete("/projects/<id:project_id>")
async def delete_project(project_id: str) -> tuple[str, int]:
    """Delete a project and everything in it, its files at the provider too.

    If the provider fails to delete a file, the project stays and the answer is 502: retry.
    """
    await files.delete_project_with_files(project_id)
    return "", 204
