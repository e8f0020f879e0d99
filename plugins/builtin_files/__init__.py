"""builtin_files: the `store_file` plugin, with two stores.

- The OpenAI Files API, when a key is set: `PROMPTKIT_FILES_API_KEY` (default `OPENAI_API_KEY`),
  `PROMPTKIT_FILES_BASE_URL` (default `OPENAI_BASE_URL`: any server that speaks the OpenAI Files
  API, over https unless it is on this machine, since the key and the users' files go there),
  and `PROMPTKIT_FILES_PURPOSE` (default `user_data`), the `purpose` of every upload.
- Otherwise the local store, on this machine's disk under `PROMPTKIT_DATA_DIR/files`, so that
  the embedded default takes uploads with no account at all.

Files already in either store stay readable and deletable whichever one takes new uploads.
The stores live in `app.extensions["promptkit_files"]`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from promptkit import HookApp, StoredFile, Upload, hookimpl
from promptkit.settings import is_loopback_host

from .local import LocalFileStore

if TYPE_CHECKING:
    from .store import OpenAIFileStore

log = logging.getLogger(__name__)

EXTENSION = "promptkit_files"
DEFAULT_PURPOSE = "user_data"


@dataclass
class Stores:
    local: LocalFileStore
    openai: OpenAIFileStore | None  # takes new uploads when configured

    def owner_of(self, stored: StoredFile) -> LocalFileStore | OpenAIFileStore | None:
        for store in (self.local, self.openai):
            if store is not None and stored.provider == store.PROVIDER:
                return store
        return None


def _stores(app: HookApp) -> Stores | None:
    stores: Stores | None = app.extensions.get(EXTENSION)
    return stores


class UnsafeFilesURL(ValueError):
    """The Files API URL would send the key and users' files over the network in clear text."""


def files_base_url(environ: dict[str, str]) -> str | None:
    """Where the OpenAI store sends files: only over https, or to this machine."""
    own = environ.get("PROMPTKIT_FILES_BASE_URL")
    url = own or environ.get("OPENAI_BASE_URL") or None
    if url is None or _safe_for_files(url):
        return url
    name = "PROMPTKIT_FILES_BASE_URL" if own else "OPENAI_BASE_URL"
    raise UnsafeFilesURL(
        f"{name} is neither https nor on this machine, so uploads do not go there: the key and "
        "users' files would cross the network in clear text"
    )


def _safe_for_files(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or is_loopback_host(parts.hostname)


@hookimpl
def startup(app: HookApp) -> None:
    environ = app.settings.environ
    local = LocalFileStore(app.settings.data_dir / "files")
    local.open()
    api_key = environ.get("PROMPTKIT_FILES_API_KEY") or environ.get("OPENAI_API_KEY")
    if not api_key:
        log.info("uploads go to the local store; set OPENAI_API_KEY to keep them in OpenAI Files")
        app.extensions[EXTENSION] = Stores(local=local, openai=None)
        return
    try:
        base_url = files_base_url(environ)
    except UnsafeFilesURL as error:
        if environ.get("PROMPTKIT_FILES_BASE_URL"):
            raise  # asked for by name: say so at start-up
        # Chat pointed at a model server elsewhere: keep the files here instead.
        log.warning("%s; uploads go to the local store", error)
        app.extensions[EXTENSION] = Stores(local=local, openai=None)
        return
    from .store import OpenAIFileStore  # the SDK is imported only when it is used

    openai_store = OpenAIFileStore(
        api_key=api_key,
        base_url=base_url,
        purpose=environ.get("PROMPTKIT_FILES_PURPOSE") or DEFAULT_PURPOSE,
    )
    app.extensions[EXTENSION] = Stores(local=local, openai=openai_store)


@hookimpl
async def shutdown(app: HookApp) -> None:
    stores = app.extensions.pop(EXTENSION, None)
    if stores is not None and stores.openai is not None:
        await stores.openai.close()


@hookimpl(trylast=True)
async def store_file(upload: Upload, app: HookApp) -> StoredFile | None:
    stores = _stores(app)
    if stores is None:
        return None
    return await (stores.openai or stores.local).put(upload)


@hookimpl(trylast=True)
def read_stored_file(stored: StoredFile, app: HookApp) -> AsyncIterator[bytes] | None:
    stores = _stores(app)
    store = stores.owner_of(stored) if stores else None
    return None if store is None else store.read(stored.provider_file_id)


@hookimpl(trylast=True)
async def delete_stored_file(stored: StoredFile, app: HookApp) -> bool | None:
    stores = _stores(app)
    store = stores.owner_of(stored) if stores else None
    if store is None:
        return None
    await store.delete(stored.provider_file_id)
    return True
