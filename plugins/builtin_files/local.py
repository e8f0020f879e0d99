"""Uploads kept on this machine's disk, under `PROMPTKIT_DATA_DIR/files`: the embedded default.

Each file is named by a random id, never by the client's file name, so no upload can choose
where it lands. Bytes are copied from the kernel's spooled upload in the kernel's thread pool
(the copy streams; nothing is read whole), written under a temporary name and renamed into
place, so a failed or cut upload leaves no partial file under a real id.

Several instances share these files only when the folder is on a shared volume; otherwise use
the OpenAI Files store or a `store_file` plugin of your own (docs/files.md).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from promptkit import StoredFile, Upload

CHUNK_BYTES = 64 * 1024
# What `put` makes: 32 URL-safe characters. Anything else read from a row is refused before
# it comes near a path.
_ID = re.compile(r"[A-Za-z0-9_-]{32}")


class LocalFileStore:
    PROVIDER = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    async def put(self, upload: Upload) -> StoredFile:
        file_id = secrets.token_urlsafe(24)
        await asyncio.to_thread(self._copy_in, upload.path, file_id)
        return StoredFile(provider_file_id=file_id, provider=self.PROVIDER)

    async def read(self, file_id: str) -> AsyncIterator[bytes]:
        with await asyncio.to_thread(open, self._path(file_id), "rb") as content:
            while chunk := await asyncio.to_thread(content.read, CHUNK_BYTES):
                yield chunk

    async def delete(self, file_id: str) -> None:
        """Remove the file; one already gone counts as deleted, so retries are safe."""
        await asyncio.to_thread(self._path(file_id).unlink, missing_ok=True)

    def _path(self, file_id: str) -> Path:
        if not _ID.fullmatch(file_id):
            raise ValueError("not an id of the local file store")
        return self.root / file_id

    def _copy_in(self, source: str, file_id: str) -> None:
        target = self._path(file_id)
        partial = target.with_name(f".{file_id}.part")
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
