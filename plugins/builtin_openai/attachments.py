"""Attached files as Chat Completions content parts, and a request body that streams them.

A user message with files becomes a list of content parts: its text, then per file
- a PDF: `{"type": "file", "file": {"file_id"}}` when the file is in the OpenAI Files store
  this server also answers chats for, otherwise `{"type": "file", "file": {"filename",
  "file_data": "data:application/pdf;base64,..."}}`;
- an image: `{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}`;
- a text file (text, markdown, CSV, JSON, code): a text part with its name and its text.

Base64 makes a file a third larger, and a request may carry several: rather than build the
whole body in memory, the body is JSON with a placeholder per file, and the placeholders are
replaced by each file's base64 as it is read from the store, 48 KiB at a time. The body can be
iterated again, so the SDK's retries before the first byte still work.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from promptkit import Attachment, ChatMessage

PDF = "application/pdf"
CHUNK_BYTES = 48 * 1024  # a multiple of 3: each chunk's base64 needs no padding
SEND_BYTES = 256 * 1024  # what the body gathers before each write


@dataclass(frozen=True)
class Inline:
    """A file whose base64 goes into the body where `token` stands."""

    token: str
    prefix: bytes  # `data:<type>;base64,`
    attachment: Attachment


class Body:
    """The request body as an async iterable of bytes, built once, iterable again per retry."""

    def __init__(self, body: dict[str, Any], inline: list[Inline]) -> None:
        self._pieces: list[bytes | Inline] = []
        encoded = orjson.dumps(body)
        for item in inline:
            before, _, encoded = encoded.partition(item.token.encode())
            self._pieces += [before, item]
        self._pieces.append(encoded)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        # Small pieces are sent together: each write is a trip through the transport.
        pending = bytearray()
        for piece in self._pieces:
            if isinstance(piece, bytes):
                pending += piece
                continue
            pending += piece.prefix
            async for chunk in base64_chunks(piece.attachment):
                pending += chunk
                if len(pending) >= SEND_BYTES:
                    yield bytes(pending)
                    pending.clear()
        if pending:
            yield bytes(pending)


async def base64_chunks(attachment: Attachment) -> AsyncIterator[bytes]:
    """The file's bytes as base64, encoded as they arrive; only a chunk is held at a time."""
    pending = b""
    async for chunk in attachment.chunks():
        pending += chunk
        if len(pending) >= CHUNK_BYTES:
            whole = len(pending) - len(pending) % 3
            yield base64.b64encode(pending[:whole])
            pending = pending[whole:]
    if pending:
        yield base64.b64encode(pending)


class Parts:
    """Builds the content parts of the messages of one request, collecting the inline files."""

    def __init__(self, *, openai_file_ids: bool) -> None:
        # True when the OpenAI Files store and the chat go to the same server with the same
        # key: its file ids are then valid here.
        self.openai_file_ids = openai_file_ids
        self.inline: list[Inline] = []
        self._tag = secrets.token_hex(8)  # placeholders no text can contain by chance

    async def content(self, message: ChatMessage) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
        for attachment in message.attachments:
            parts.append(await self._part(attachment))
        return parts

    async def _part(self, attachment: Attachment) -> dict[str, Any]:
        if attachment.is_text:
            # Within the context budget: the kernel refused a message whose text files do not
            # fit, and trims the history by them.
            text = (await attachment.read_bytes()).decode("utf-8", errors="replace")
            header = f"File {attachment.filename} ({attachment.media_type}):"
            return {"type": "text", "text": f"{header}\n{text}"}
        if attachment.media_type == PDF:
            if self.openai_file_ids and attachment.stored.provider == "openai":
                return {"type": "file", "file": {"file_id": attachment.stored.provider_file_id}}
            data = self._inline(attachment)
            return {"type": "file", "file": {"filename": attachment.filename, "file_data": data}}
        # Images (and whatever else a model's declared attachments let through) as a data URL.
        return {"type": "image_url", "image_url": {"url": self._inline(attachment)}}

    def _inline(self, attachment: Attachment) -> str:
        token = f"@@promptkit-file-{self._tag}-{len(self.inline)}@@"
        prefix = f"data:{attachment.media_type};base64,".encode()
        self.inline.append(Inline(token, prefix, attachment))
        return token
