"""Files: `/projects/{id}/files`, `/files/{id}` and `/files/{id}/content`.

The kernel owns the routes, tenancy and rows; a `store_file` plugin owns the bytes. Neither side
may keep something the other has lost:
- upload: spool to disk, hand to the plugin, then insert the row; if the insert fails, the
  plugin deletes the bytes again;
- delete: the plugin deletes the bytes (already gone counts as deleted), then the row goes; if
  the plugin fails, the row stays and the client gets 502 and may retry.
Both run to completion even when the client goes away (see `promptkit.tasks`).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from typing import IO, Any, cast
from urllib.parse import quote

from pydantic import BaseModel
from quart import Blueprint, Response, request
from quart.formparser import FormDataParser
from quart.wrappers.request import Body
from quart_schema import DataSource, document_request, validate_querystring, validate_response
from quart_schema.pydantic import File as FileField
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from .. import context
from ..db import files as q
from ..db import projects
from ..db.files import FileRow
from ..errors import (
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from ..hooktypes import StoredFile, Upload
from ..schemas import ListQuery, Page, document_raw_responses
from ..stored_files import (
    DELETING,
    MEDIA_TYPE,
    UPLOADING,
    delete_everywhere,
    display_name,
    store_and_record,
)
from ..tasks import run_to_completion
from . import IdConverter, PageOf, found, page

log = logging.getLogger(__name__)

blueprint = Blueprint("files", __name__)

UPLOAD_RULE = "/projects/<id:project_id>/files"
UPLOAD_PATH = re.compile(rf"/projects/{IdConverter.regex}/files")
# Room for the multipart envelope (boundaries, part headers) around a file of the largest size.
ENVELOPE_BYTES = 64 * 1024
MAX_FORM_PARTS = 16


class File(BaseModel):
    id: str
    project_id: str
    filename: str
    size_bytes: int
    content_type: str
    provider_file_id: str
    created_at: datetime


class UploadForm(BaseModel):
    """One file, in the multipart field `file`."""

    file: FileField


@blueprint.get(UPLOAD_RULE)
@validate_querystring(ListQuery)
@validate_response(Page[File])
async def list_files(project_id: str, query_args: ListQuery) -> PageOf[FileRow]:
    """List the files of a project, newest first."""
    owner = context.owner()
    found(await projects.get(context.db(), owner, project_id), "project")
    rows, cursor = await q.list_page(
        context.db(), owner, project_id, limit=query_args.limit, cursor=query_args.cursor
    )
    return page(rows, cursor)


@blueprint.post(UPLOAD_RULE)
@document_request(UploadForm, source=DataSource.FORM_MULTIPART)
@validate_response(File, 201)
async def upload_file(project_id: str) -> tuple[FileRow, int]:
    """Upload a file (multipart field `file`) to the file store of the `store_file` plugin."""
    principal, owner = context.principal(), context.owner()
    project = found(await projects.get_to_change(context.db(), owner, project_id), "project")
    limit = context.settings().max_upload_bytes
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("send the file as multipart/form-data, in the field `file`")
    spool = _Spool()
    try:
        upload = await _receive(spool, limit)
    except BaseException:
        spool.close()
        raise
    work = store_and_record(
        context.db(), context.plugins(), principal, owner, project, upload, on_done=spool.close
    )
    return await run_to_completion(context.app(), work, UPLOADING), 201


@blueprint.get("/files/<id:file_id>")
@validate_response(File)
async def get_file(file_id: str) -> FileRow:
    """Read a file's metadata."""
    return found(await q.get(context.db(), context.owner(), file_id), "file")


DOWNLOAD_RESPONSE = {
    "description": "The file's bytes, streamed, with the content type it was uploaded with",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


@blueprint.get("/files/<id:file_id>/content")
@document_raw_responses({200: DOWNLOAD_RESPONSE})
async def download_file(file_id: str) -> Response:
    """Download a file's bytes from the store that holds them (409 when it cannot give them)."""
    principal = context.principal()
    row = found(await q.get(context.db(), context.owner(), file_id), "file")
    stored = StoredFile(provider_file_id=row["provider_file_id"], provider=row["provider"])
    chunks = await context.plugins().read_stored_file(stored, principal)
    if chunks is None:
        raise Conflict(f"the file store {stored.provider!r} cannot give this file's bytes back")
    try:
        # Read before answering, so that a store's refusal still reaches the client as a status.
        first = await anext(chunks, b"")
    except BaseException:
        await _close(chunks)
        raise
    response = Response(_chained(first, chunks), content_type=row["content_type"])
    response.headers.update(_download_headers(row["filename"]))
    return response


def _download_headers(filename: str) -> dict[str, str]:
    """Always a download, never a page of ours: whatever the uploader called the content type,
    it is not sniffed, not rendered inline and could run nothing if it were."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = ascii_name.replace("\\", "_").replace('"', "_") or "download"
    disposition = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        disposition += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    }


async def _chained(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        async for chunk in rest:
            yield chunk
    finally:
        await _close(rest)


async def _close(chunks: AsyncIterator[bytes]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()


@blueprint.delete("/files/<id:file_id>")
async def delete_file(file_id: str) -> tuple[str, int]:
    """Delete a file: its bytes at the provider, then its metadata."""
    principal, owner = context.principal(), context.owner()
    row = found(await q.get_to_delete(context.db(), owner, file_id), "file")
    work = delete_everywhere(context.db(), context.plugins(), principal, owner, row)
    await run_to_completion(context.app(), work, DELETING)
    return "", 204


class _Spool:
    """The temporary files the multipart parser writes file parts into, under random names.

    They are removed when closed; the client's file name never becomes a path.
    """

    def __init__(self) -> None:
        self.files: list[IO[bytes]] = []

    def __call__(self, *_: Any) -> IO[bytes]:
        spooled = tempfile.NamedTemporaryFile(prefix="promptkit-upload-")  # noqa: SIM115
        self.files.append(spooled)
        return spooled

    def close(self) -> None:
        for spooled in self.files:
            spooled.close()


async def _receive(spool: _Spool, limit: int) -> Upload:
    """Parse the multipart body as it arrives, spooling the file to disk, and check it."""
    parser = FormDataParser(
        max_content_length=limit + ENVELOPE_BYTES,
        max_form_memory_size=ENVELOPE_BYTES,
        max_form_parts=MAX_FORM_PARTS,
        stream_factory=spool,
    )
    body = _limited(request.body, limit + ENVELOPE_BYTES, request.body_timeout)
    try:
        _, files = await parser.parse(
            cast(Body, body), request.mimetype, request.content_length, request.mimetype_params
        )
    except RequestEntityTooLarge as error:
        if (request.content_length or 0) > limit + ENVELOPE_BYTES:
            raise PayloadTooLarge(f"a file may have at most {limit} bytes") from error
        # The body fits: what overflowed is the form around the file.
        raise PayloadTooLarge(
            f"the form fields beside `file` are too many or too large: at most {MAX_FORM_PARTS}"
            f" parts and {ENVELOPE_BYTES} bytes of fields"
        ) from error
    received: list[FileStorage] = files.getlist("file")
    if len(received) != 1:
        raise _invalid_file("send exactly one file, in the multipart field `file`")
    storage = received[0]
    storage.stream.flush()  # the plugin reads it by path
    size = os.fstat(storage.stream.fileno()).st_size
    if size == 0:
        raise _invalid_file("the file is empty")
    if size > limit:
        raise PayloadTooLarge(f"a file may have at most {limit} bytes")
    filename = display_name(storage.filename)
    return Upload(
        path=str(storage.stream.name),
        filename=filename,
        content_type=_content_type(storage.mimetype, filename),
        size_bytes=size,
    )


async def _limited(
    body: AsyncIterable[bytes], limit: int, idle_timeout: float | None
) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; 413 as soon as more than `limit` bytes came, whatever
    the Content-Length said (or if it said nothing), and 408 when the client stalls."""
    received = 0
    chunks = aiter(body)
    while True:
        try:
            # Not `wait_for`: on Python 3.11 it can swallow the cancellation of a client that
            # left (see `routes.request_class`).
            async with asyncio.timeout(idle_timeout):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError as error:
            raise RequestTimeout() from error
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"a file may have at most {limit - ENVELOPE_BYTES} bytes")
        yield chunk


def _invalid_file(message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"loc": ["body", "file"], "msg": message}])


def _content_type(declared: str, filename: str) -> str:
    if MEDIA_TYPE.fullmatch(declared) and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
