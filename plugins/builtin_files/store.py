"""Uploads to, and deletes from, the OpenAI Files API, leaving nothing behind on failure."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any, cast, get_args

import openai
from openai.types import FilePurpose

from promptkit import Conflict, ProviderError, StoredFile, Upload

log = logging.getLogger(__name__)

# How far back to look for a file that an upload may have created before it failed.
RECENT_SECONDS = 15 * 60
CHUNK_BYTES = 64 * 1024


class OpenAIFileStore:
    PROVIDER = "openai"

    def __init__(self, *, api_key: str, base_url: str | None, purpose: str) -> None:
        if purpose not in get_args(FilePurpose):
            # Said once at start-up, rather than by every upload failing with a 400 upstream.
            choices = ", ".join(get_args(FilePurpose))
            raise ValueError(f"PROMPTKIT_FILES_PURPOSE={purpose!r} is not one of: {choices}")
        self.client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url)
        self.purpose = purpose

    async def close(self) -> None:
        await self.client.close()

    async def put(self, upload: Upload) -> StoredFile:
        """Upload the spooled file, streamed from disk.

        The SDK reads a path into memory whole (`pathlib.Path.read_bytes`); a `(name, file
        object, content type)` tuple is read in 64 KiB chunks as the request is sent, so it is
        the shape used here (`bench/upload_memory.py` measures both).

        An upload is not idempotent: an SDK retry after the provider stored the file but the
        answer was lost would store it twice. So it is never retried here (the client may
        retry the request), and the name sent carries a one-time tag: when an upload fails,
        any file with that name is looked up and deleted, so none is left without a row.
        """
        name = f"pk-{secrets.token_hex(6)}-{upload.filename}"
        started = time.time()
        try:
            with await asyncio.to_thread(open, upload.path, "rb") as content:
                created = await self.client.with_options(max_retries=0).files.create(
                    file=(name, content, upload.content_type),
                    purpose=cast(FilePurpose, self.purpose),
                )
        except BaseException as error:
            await self._remove_named(name, since=started)
            if isinstance(error, openai.OpenAIError):
                raise ProviderError(_safe_reason("upload", error)) from error
            raise
        if created.bytes != upload.size_bytes:
            await self._remove_named(name, since=started)
            raise ProviderError(
                f"the file store kept {created.bytes} of {upload.size_bytes} bytes; try again"
            )
        return StoredFile(
            provider_file_id=created.id, provider=self.PROVIDER, extra={"purpose": created.purpose}
        )

    async def read(self, file_id: str) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive. A store may refuse to give bytes back (OpenAI does
        for some purposes): that is a 409 for the client, not a provider failure."""
        try:
            async with self.client.files.with_streaming_response.content(file_id) as response:
                async for chunk in response.iter_bytes(CHUNK_BYTES):
                    yield chunk
        except (openai.BadRequestError, openai.PermissionDeniedError) as error:
            raise Conflict(
                f"the OpenAI file store does not give back this file's bytes"
                f" (HTTP {error.status_code}, purpose {self.purpose!r})"
            ) from error
        except openai.NotFoundError as error:
            raise Conflict("the file's bytes are gone from the OpenAI file store") from error
        except openai.OpenAIError as error:
            raise ProviderError(_safe_reason("download", error)) from error

    async def delete(self, file_id: str) -> None:
        """Delete a file; one that is already gone counts as deleted, so retries are safe.

        Deleting is idempotent, so the SDK's own retries (connection errors, 408, 409, 429,
        5xx) apply.
        """
        try:
            await self.client.files.delete(file_id)
        except openai.NotFoundError:
            return
        except openai.OpenAIError as error:
            raise ProviderError(_safe_reason("delete", error)) from error

    async def _remove_named(self, name: str, *, since: float) -> None:
        """Delete every file called `name` (a failed upload may have created one)."""
        try:
            async for item in self.client.files.list(purpose=self.purpose, order="desc"):
                if item.created_at < since - RECENT_SECONDS:
                    break  # newest first: nothing older can be ours
                if item.filename == name:
                    log.warning("deleting %s, stored by an upload that failed", item.id)
                    await self.delete(item.id)
        except Exception:
            log.exception(
                "could not check the file store for a file %r left by a failed upload; "
                "if it is there, delete it by hand",
                name,
            )


def _safe_reason(action: str, error: BaseException) -> str:
    """A message for the client: the status, never the provider's text (it may quote a key)."""
    status: Any = getattr(error, "status_code", None)
    if isinstance(error, openai.APITimeoutError):
        return f"the file store timed out during the {action}"
    if isinstance(error, openai.APIConnectionError):
        return f"the file store could not be reached for the {action}"
    if status is not None:
        return f"the file store refused the {action} (HTTP {status})"
    return f"the file store failed during the {action}"
