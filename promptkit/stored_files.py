"""A stored file's bytes (a `store_file` plugin's) and its row (the kernel's), kept in step.

Storing: the plugin stores the bytes, then the row is inserted; if the insert fails, the plugin
deletes the bytes again, so no bytes are left without a row. Deleting: the bytes go first, then
the row, so a row never points at bytes that are gone and a failure at the provider leaves the
row to retry with. Used by the upload route, a `data:` URL attachment, `DELETE /files/{id}` and
a project delete.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable

from .db import Database, projects
from .db import files as q
from .db.owners import Owner
from .errors import NotFound, ServiceUnavailable
from .hooktypes import Principal, StoredFile, Upload
from .plugins import Plugins

log = logging.getLogger(__name__)

# What `run_to_completion` calls the work in its logs.
UPLOADING, DELETING = "storing an uploaded file", "deleting a stored file"
FILENAME_MAX = 255
MEDIA_TYPE = re.compile(r"[\w.+-]{1,100}/[\w.+-]{1,100}")


def display_name(raw: str | None) -> str:
    """The client's file name, for display only: no directories, no control characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    if len(name) > FILENAME_MAX:
        stem, extension = os.path.splitext(name)
        extension = extension[:16]
        name = stem[: FILENAME_MAX - len(extension)] + extension
    return name if name not in ("", ".", "..") else "upload"


async def delete_everywhere(
    db: Database, plugins: Plugins, principal: Principal, owner: Owner, row: q.StoredFileRow
) -> None:
    stored = StoredFile(provider_file_id=row["provider_file_id"], provider=row["provider"])
    if not await plugins.delete_stored_file(stored, principal):
        raise ServiceUnavailable(f"the file store {stored.provider!r} is not configured")
    await q.delete(db, owner, row["id"])


async def store_and_record(
    db: Database,
    plugins: Plugins,
    principal: Principal,
    owner: Owner,
    project: projects.ProjectRow,
    upload: Upload,
    *,
    on_done: Callable[[], None],
) -> q.FileRow:
    try:
        stored = await plugins.store_file(upload, project, principal)
    finally:
        on_done()  # the spooled file is not needed once the plugin has answered
    if stored is None:
        raise ServiceUnavailable(
            "no file store is configured: enable the built-in `files` plugin, or install a"
            " store_file plugin"
        )
    try:
        row = await q.create(
            db,
            owner,
            project["id"],
            filename=upload.filename,
            size_bytes=upload.size_bytes,
            content_type=upload.content_type,
            provider=stored.provider,
            provider_file_id=stored.provider_file_id,
        )
    except Exception as error:
        await _forget(plugins, principal, stored)
        if await _project_gone(db, owner, project["id"]):
            raise NotFound("project not found") from error  # deleted while uploading
        raise
    if row is None:  # the project was deleted while uploading
        await _forget(plugins, principal, stored)
        raise NotFound("project not found")
    return row


async def _project_gone(db: Database, owner: Owner, project_id: str) -> bool:
    try:
        return await projects.get(db, owner, project_id) is None
    except Exception:  # the database itself failed: the original error says more
        return False


async def _forget(plugins: Plugins, principal: Principal, stored: StoredFile) -> None:
    """Delete bytes that will have no row. If that fails too, say which, so they can go."""
    try:
        if await plugins.delete_stored_file(stored, principal):
            return
        log.error("no plugin deleted orphaned %s file %s", stored.provider, stored.provider_file_id)
    except Exception:
        log.exception(
            "could not delete orphaned %s file %s", stored.provider, stored.provider_file_id
        )
