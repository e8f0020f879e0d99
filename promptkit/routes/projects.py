"""Projects: `/projects` and `/projects/{id}`."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from .. import context
from ..db import Database, deletes, files
from ..db import projects as q
from ..db.owners import Owner
from ..db.projects import ProjectRow
from ..errors import Conflict, NotFound, ValidationFailed
from ..hooktypes import Principal
from ..plugins import Plugins
from ..schemas import ListQuery, Page, Project, ProjectIn, ProjectPatch
from ..stored_files import DELETING, delete_everywhere
from ..tasks import run_to_completion
from . import PageOf, found, page

blueprint = Blueprint("projects", __name__)


@blueprint.get("/projects")
@validate_querystring(ListQuery)
@validate_response(Page[Project])
async def list_projects(query_args: ListQuery) -> PageOf[ProjectRow]:
    """List my projects, newest first."""
    rows, cursor = await q.list_page(
        context.db(), context.owner(), limit=query_args.limit, cursor=query_args.cursor
    )
    return page(rows, cursor)


@blueprint.post("/projects")
@validate_request(ProjectIn)
@validate_response(Project, 201)
async def create_project(data: ProjectIn) -> tuple[ProjectRow, int]:
    """Create a project."""
    return await q.create(context.db(), context.owner(), data.name), 201


@blueprint.get("/projects/<id:project_id>")
@validate_response(Project)
async def get_project(project_id: str) -> ProjectRow:
    """Read a project."""
    return found(await q.get(context.db(), context.owner(), project_id), "project")


@blueprint.patch("/projects/<id:project_id>")
@validate_request(ProjectPatch)
@validate_response(Project)
async def update_project(project_id: str, data: ProjectPatch) -> ProjectRow:
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
    await _delete_with_files(project_id)
    return "", 204


async def _delete_with_files(project_id: str) -> None:
    """Delete a project, its files at the provider first.

    When the provider fails for one file, the delete stops there: the files already deleted
    lose their rows, the project and the rest stay, and the `ProviderError` (502) reaches the
    client, who may retry; a retry carries on with what is left. Refusing keeps every row
    pointing at bytes that exist, with no clean-up job to run later.
    """
    db, plugins, principal = context.db(), context.plugins(), context.principal()
    owner = context.owner()
    # A member is refused (403) before any file goes.
    found(await q.get_to_change(db, owner, project_id), "project")
    for _ in range(3):  # a new file may land while the others are deleted; look again
        while rows := await files.of_project(db, owner, project_id):
            for row in rows:
                work = delete_everywhere(db, plugins, principal, owner, row)
                await run_to_completion(context.app(), work, DELETING)
        deleted = await _delete_if_empty(db, plugins, principal, owner, project_id)
        if deleted is None:
            raise NotFound("project not found")
        if deleted:
            return
    raise Conflict("files are still being added to this project; retry the delete")


async def _delete_if_empty(
    db: Database, plugins: Plugins, principal: Principal, owner: Owner, project_id: str
) -> bool | None:
    """`files.delete_project_if_empty`; with the messages read back and the observers told
    when some plugin observes deletions (both finish even when the client goes away)."""
    if not plugins.observes_deletions():
        return await files.delete_project_if_empty(db, owner, project_id)

    async def delete_and_tell() -> bool | None:
        deleted, gone = await deletes.project_if_empty(db, owner, project_id)
        for conversation in gone:
            await plugins.messages_deleted(
                conversation.messages, conversation.conversation, principal
            )
        return deleted

    return await run_to_completion(context.app(), delete_and_tell(), "deleting a project")
