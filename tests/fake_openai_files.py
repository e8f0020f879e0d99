"""A fake OpenAI Files API: real HTTP on 127.0.0.1, with failures injected at each step.

Tests point the real `openai` SDK at it (`OPENAI_BASE_URL=fake.base_url`) and read back what
it holds. It speaks the endpoints promptkit uses (upload, list, retrieve, content, delete), with the
shapes of the OpenAI spec, and checks the bearer key. Uploads are streamed and hashed, never
held in memory, so it also serves benchmarks: `python tests/fake_openai_files.py --port 8002`.

    fake.fail("upload", status=500)               # refuse the next upload, store nothing
    fake.fail("upload", status=500, after=True)   # store it, then answer 500: a lost answer
    fake.fail("delete", drop=True, times=3)       # cut the connection, three times
    fake.fail("list", status=503, retry=True)     # let the SDK retry this one
    fake.fail("delete", skip=1, status=500)       # the second delete fails
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web
from local_server import LocalServer

API_KEY = "sk-fake-files-key"
STEPS = ("upload", "list", "retrieve", "content", "delete")
# Uploads up to this size are kept, so that their content can be downloaded again.
KEPT_BYTES = 1024 * 1024
UPLOAD_PURPOSES = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}


@dataclass
class Failure:
    status: int = 500
    after: bool = False  # do the work first, then fail: the client cannot know it happened
    drop: bool = False  # cut the connection instead of answering
    retry: bool = False  # without it, `x-should-retry: false` stops the SDK's retries


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    sha256: str
    content_type: str | None
    order: int = 0
    content: bytes | None = None  # kept for small uploads only

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass
class FakeOpenAIFiles:
    api_key: str = API_KEY
    files: dict[str, StoredFile] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # the step of each request, in order
    port: int = 0
    _failures: dict[str, deque[Failure | None]] = field(default_factory=lambda: defaultdict(deque))
    _server: LocalServer | None = None
    _order: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail(self, step: str, *, times: int = 1, skip: int = 0, **how: Any) -> None:
        """Let `skip` requests of `step` through, then fail `times` as `Failure(**how)` says."""
        assert step in STEPS, step
        self._failures[step].extend([None] * skip + [Failure(**how) for _ in range(times)])

    def heal(self) -> None:
        """Drop the failures still queued."""
        self._failures.clear()

    async def start(self, port: int = 0) -> FakeOpenAIFiles:
        app = web.Application()
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files", self._list)
        app.router.add_get("/v1/files/{file_id}", self._retrieve)
        app.router.add_get("/v1/files/{file_id}/content", self._content)
        app.router.add_delete("/v1/files/{file_id}", self._delete)
        self._server = LocalServer(app)
        self.port = await self._server.start(port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    # Each handler: check the key, take any failure queued for its step, do the work.

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        failure = self._begin("upload", request)
        if failure is not None and not failure.after:
            return self._refuse(request, failure)
        fields: dict[str, str] = {}
        stored: StoredFile | None = None
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                digest, size, kept = hashlib.sha256(), 0, bytearray()
                while chunk := await part.read_chunk(256 * 1024):
                    digest.update(chunk)
                    size += len(chunk)
                    if size <= KEPT_BYTES:
                        kept += chunk
                stored = StoredFile(
                    id=f"file-{secrets.token_hex(12)}",
                    filename=part.filename or "",
                    purpose="",
                    bytes=size,
                    created_at=int(time.time()),
                    sha256=digest.hexdigest(),
                    content_type=part.headers.get("Content-Type"),
                    order=next(self._order),
                    content=bytes(kept) if size <= KEPT_BYTES else None,
                )
            elif part.name:
                fields[part.name] = await part.text()
        if stored is None or fields.get("purpose") not in UPLOAD_PURPOSES:
            return _error(400, "'file' and a valid 'purpose' are required", "invalid_request")
        stored.purpose = fields["purpose"]
        self.files[stored.id] = stored
        if failure is not None:
            return self._refuse(request, failure)
        return web.json_response(stored.to_json())

    async def _list(self, request: web.Request) -> web.StreamResponse:
        failure = self._begin("list", request)
        if failure is not None:
            return self._refuse(request, failure)
        query = request.query
        found = [f for f in self.files.values() if query.get("purpose") in (None, f.purpose)]
        found.sort(key=lambda f: (f.created_at, f.order), reverse=query.get("order") != "asc")
        if "after" in query:
            ids = [f.id for f in found]
            found = found[ids.index(query["after"]) + 1 :] if query["after"] in ids else []
        limit = int(query.get("limit", 10_000))
        page = found[:limit]
        return web.json_response(
            {
                "object": "list",
                "data": [f.to_json() for f in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": len(found) > limit,
            }
        )

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        failure = self._begin("retrieve", request)
        if failure is not None:
            return self._refuse(request, failure)
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            return _no_such_file(request.match_info["file_id"])
        return web.json_response(stored.to_json())

    async def _content(self, request: web.Request) -> web.StreamResponse:
        failure = self._begin("content", request)
        if failure is not None:
            return self._refuse(request, failure)
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            return _no_such_file(request.match_info["file_id"])
        assert stored.content is not None, "the fake keeps the content of small uploads only"
        return web.Response(body=stored.content, content_type="application/octet-stream")

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        failure = self._begin("delete", request)
        if failure is not None and not failure.after:
            return self._refuse(request, failure)
        file_id = request.match_info["file_id"]
        if self.files.pop(file_id, None) is None:
            return _no_such_file(file_id)
        if failure is not None:
            return self._refuse(request, failure)
        return web.json_response({"id": file_id, "object": "file", "deleted": True})

    def _begin(self, step: str, request: web.Request) -> Failure | None:
        self.calls.append(step)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            raise web.HTTPUnauthorized(
                text='{"error": {"message": "Incorrect API key provided", "type": '
                '"invalid_request_error", "param": null, "code": "invalid_api_key"}}',
                content_type="application/json",
            )
        queued = self._failures[step]
        return queued.popleft() if queued else None

    @staticmethod
    def _refuse(request: web.Request, failure: Failure) -> web.StreamResponse:
        if failure.drop:
            assert request.transport is not None
            request.transport.abort()
        response = _error(failure.status, "injected failure", "server_error")
        if not failure.retry:
            response.headers["x-should-retry"] = "false"
        return response


def _error(status: int, message: str, kind: str) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return web.json_response(body, status=status)


def _no_such_file(file_id: str) -> web.Response:
    return _error(404, f"No such File object: {file_id}", "invalid_request_error")


async def _serve(port: int) -> None:
    fake = await FakeOpenAIFiles().start(port)
    print(f"fake OpenAI Files API on {fake.base_url} (key {fake.api_key})", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8002)
    asyncio.run(_serve(parser.parse_args().port))
