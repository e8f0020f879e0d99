"""Files attached to a user message: checked, stored as `file` parts, read back with the history.

A chat names its files by id (`file_ids`, or a promptkit file URL in a useChat `file` part) or
sends them inline (a `data:` URL, stored through the `store_file` hook first). Every check is
made before anything is stored or sent: each id must be a file of the caller in the
conversation's project (any other answers 404, as a missing one does), the chosen model must
read its media type (422 `unsupported_attachment`), and there are at most
`PROMPTKIT_MAX_ATTACHMENTS`. Providers get `Attachment`s on the `ChatMessage` and read the bytes
through `Attachment.chunks()`, from whichever store holds them.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from .db import files, projects
from .errors import NotFound, ProviderError, UnsupportedAttachment, ValidationFailed
from .hooktypes import Attachment, Model, Principal, StoredFile, Upload, is_text_media_type
from .roles import owner_of
from .stored_files import UPLOADING, store_and_record  # the one path every upload takes
from .tasks import run_to_completion

if TYPE_CHECKING:
    from .app import PromptkitApp

# What a promptkit file URL looks like: `/files/{id}/content`, alone or after a proxy's prefix
# or an origin. The id is still checked against the caller's files.
FILE_URL = re.compile(r"(?:^|/)files/(fil_[A-Za-z0-9_-]{1,60})/content/?(?:[?#].*)?$")
# A non-text file costs the context budget a sixteenth of its size, at least this much: about
# what a model is charged for an image or a page, far less than its bytes.
MIN_BINARY_CHARS = 4_000
BINARY_CHARS_PER_BYTE = 1 / 16


@dataclass(frozen=True)
class FileRef:
    """A file the chat names by its id."""

    file_id: str


@dataclass(frozen=True)
class InlineFile:
    """A file sent inside the chat as a `data:` URL, to be stored before the chat goes on."""

    filename: str
    media_type: str
    data: bytes


AttachedFile = FileRef | InlineFile


def file_id_of(url: str) -> str | None:
    """The file id of a promptkit file URL, or None when the URL is not one."""
    match = FILE_URL.search(url)
    return match.group(1) if match else None


def file_part(attachment: Attachment) -> dict[str, Any]:
    """The stored `file` part of the AI SDK's UIMessage: it opens through the file's URL."""
    return {
        "type": "file",
        "mediaType": attachment.media_type,
        "filename": attachment.filename,
        "url": f"/files/{attachment.file_id}/content",
    }


def reads(model: Model, media_type: str) -> bool:
    """Does the model read files of this media type (`Capabilities.attachments`: types and
    ranges like `image/*` or `*/*`)?"""
    kind = media_type.split(";", 1)[0].strip().lower()
    return any(
        fnmatch.fnmatchcase(kind, pattern.lower()) for pattern in model.capabilities.attachments
    )


def context_chars(attachment: Attachment) -> int:
    """What an attachment costs the context budget (`PROMPTKIT_CONTEXT_BUDGET_CHARS`): a text
    file goes as text, its size; an image or a PDF a fraction of its bytes."""
    if attachment.is_text:
        return attachment.size_bytes
    return max(MIN_BINARY_CHARS, int(attachment.size_bytes * BINARY_CHARS_PER_BYTE))


def check_readable(model: Model, attached: Sequence[Attachment]) -> None:
    for attachment in attached:
        if not reads(model, attachment.media_type):
            raise _unsupported(model, attachment.filename, attachment.media_type)


async def attach(
    app: PromptkitApp,
    principal: Principal,
    conversation: dict[str, Any],
    model: Model,
    wanted: Sequence[AttachedFile],
) -> tuple[Attachment, ...]:
    """The files of a new user message, checked; inline ones are stored only once every file
    has passed. Raises before anything is stored: 422 over the limit or for a type the model
    cannot read, 404 for an id that is not the caller's file in this project."""
    if not wanted:
        return ()
    limit = app.settings.max_attachments
    if len(wanted) > limit:
        message = f"a message may have at most {limit} attachments, not {len(wanted)}"
        raise ValidationFailed(message, details=[{"loc": ["body", "file_ids"], "msg": message}])
    db, owner = app.db, owner_of(principal, app.settings.org_admin_roles)
    rows: list[files.StoredFileRow | InlineFile] = []
    for item in wanted:
        if isinstance(item, InlineFile):
            if len(item.data) > app.settings.max_upload_bytes:
                raise ValidationFailed(
                    f"the attached file {item.filename!r} is larger than"
                    f" {app.settings.max_upload_bytes} bytes"
                )
            if not reads(model, item.media_type):
                raise _unsupported(model, item.filename, item.media_type)
            rows.append(item)
            continue
        row = await files.get(db, owner, item.file_id)
        if row is None or row["project_id"] != conversation["project_id"]:
            raise NotFound(f"file {item.file_id!r} not found")
        if not reads(model, row["content_type"]):
            raise _unsupported(model, row["filename"], row["content_type"])
        rows.append(row)
    text_chars = sum(
        len(row.data) if isinstance(row, InlineFile) else row["size_bytes"]
        for row in rows
        if is_text_media_type(
            row.media_type if isinstance(row, InlineFile) else row["content_type"]
        )
    )
    if text_chars > app.settings.context_budget_chars:
        raise ValidationFailed(
            f"the attached text files have {text_chars} characters, more than the context"
            f" budget of {app.settings.context_budget_chars} (PROMPTKIT_CONTEXT_BUDGET_CHARS)"
        )
    stored: list[Attachment] = []
    for checked in rows:
        if isinstance(checked, InlineFile):
            checked = await _store_inline(app, principal, conversation["project_id"], checked)
        stored.append(_attachment(app, principal, checked))
    return tuple(stored)


async def of_history(
    app: PromptkitApp, principal: Principal, model: Model, rows: Sequence[dict[str, Any]]
) -> dict[str, tuple[Attachment, ...]]:
    """The files of the user messages among `rows` (from `messages.recent`, `parts` as JSON
    text), by message id. A file deleted since is left out; so is one the model cannot read
    (the conversation may have been with another model)."""
    owner = owner_of(principal, app.settings.org_admin_roles)
    found: dict[str, tuple[Attachment, ...]] = {}
    known: dict[str, files.StoredFileRow | None] = {}
    for row in rows:
        text = row.get("parts")
        if row["role"] != "user" or not text or '"file"' not in text:
            continue
        attached = []
        for part in orjson.loads(text):
            file_id = file_id_of(part.get("url") or "") if part.get("type") == "file" else None
            if file_id is None:
                continue
            if file_id not in known:
                known[file_id] = await files.get(app.db, owner, file_id)
            stored = known[file_id]
            if stored is not None and reads(model, stored["content_type"]):
                attached.append(_attachment(app, principal, stored))
        if attached:
            found[row["id"]] = tuple(attached)
    return found


def _attachment(app: PromptkitApp, principal: Principal, row: files.StoredFileRow) -> Attachment:
    stored = StoredFile(provider_file_id=row["provider_file_id"], provider=row["provider"])
    return Attachment(
        file_id=row["id"],
        filename=row["filename"],
        media_type=row["content_type"],
        size_bytes=row["size_bytes"],
        stored=stored,
        read=_reader(app, principal, stored, row["filename"]),
    )


def _reader(
    app: PromptkitApp, principal: Principal, stored: StoredFile, filename: str
) -> Callable[[], AsyncIterator[bytes]]:
    async def read() -> AsyncIterator[bytes]:
        chunks = await app.plugins.read_stored_file(stored, principal)
        if chunks is None:
            raise ProviderError(
                f"the file store {stored.provider!r} cannot give the bytes of {filename!r}"
            )
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    return read


async def _store_inline(
    app: PromptkitApp, principal: Principal, project_id: str, inline: InlineFile
) -> files.StoredFileRow:
    """Store a `data:` URL's bytes as an upload would be, and return the file's row."""
    owner = owner_of(principal, app.settings.org_admin_roles)
    # A `data:` URL is an upload: in an organization's project, an admin's (403 for a member).
    project = await projects.get_to_change(app.db, owner, project_id)
    if project is None:
        raise NotFound("project not found")
    spooled = await asyncio.to_thread(_spool, inline.data)
    upload = Upload(
        path=spooled.name,
        filename=inline.filename,
        content_type=inline.media_type,
        size_bytes=len(inline.data),
    )
    work = store_and_record(
        app.db, app.plugins, principal, owner, project, upload, on_done=spooled.close
    )
    created = await run_to_completion(app, work, UPLOADING)
    row = await files.get(app.db, owner, created["id"])  # with its `provider`
    if row is None:
        raise NotFound("project not found")  # deleted meanwhile, the file with it
    return row


def _spool(data: bytes) -> Any:
    spooled = tempfile.NamedTemporaryFile(prefix="promptkit-upload-")  # noqa: SIM115
    try:
        spooled.write(data)
        spooled.flush()  # the store reads it by path
    except BaseException:
        spooled.close()
        raise
    return spooled


def _unsupported(model: Model, filename: str, media_type: str) -> UnsupportedAttachment:
    accepted = ", ".join(model.capabilities.attachments) or "no attachments"
    return UnsupportedAttachment(
        f"the model {model.id!r} cannot read {filename!r} ({media_type}); it reads: {accepted}"
    )
