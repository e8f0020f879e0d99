"""A stored file's bytes (a `store_file` plugin's) and its row (the kernel's), deleted in step.

The bytes go first, then the row: a row never points at bytes that are gone, and a failure at
the provider leaves the row to retry with. Used by `DELETE /files/{id}` and a project delete.
"""

from __future__ import annotations

from typing import Any

from .db import Database
from .db import files as q
from .db.owners import Owner
from .errors import ServiceUnavailable
from .hooktypes import Principal, StoredFile
from .plugins import Plugins

DELETING = "deleting a stored file"  # what `run_to_completion` calls the work in its logs


async def delete_everywhere(
    db: Database, plugins: Plugins, principal: Principal, owner: Owner, row: dict[str, Any]
) -> None:
    stored = StoredFile(provider_file_id=row["provider_file_id"], provider=row["provider"])
    if not await plugins.delete_stored_file(stored, principal):
        raise ServiceUnavailable(f"the file store {stored.provider!r} is not configured")
    await q.delete(db, owner, row["id"])
