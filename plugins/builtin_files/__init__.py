"""builtin_files: the `store_file` plugin, with two stores.

- The OpenAI Files API, when a key is set: `PROMPTKIT_FILES_API_KEY` (default `OPENAI_API_KEY`),
  `PROMPTKIT_FILES_BASE_URL` (default `OPENAI_BASE_URL`: any server that speaks the OpenAI Files
  API, over https unless it is on this machine, since the key and the users' files go there),
  and `PROMPTKIT_FILES_PURPOSE` (default `user_data`), the `purpose` of every upload.
- Otherwise the local store, on this machine's disk under `PROMPTKIT_DATA_DIR/files`, so that
  the embedded default takes uploads with no account at all.

Files already in either store stay readable and deletable whichever one takes new uploads.
The stores live in `host.state["stores"]`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from promptkit import Host, StoredFile, Upload, hookimpl
from promptkit.settings import is_loopback_host

if TYPE_CHECKING:  # both are imported as the server starts, not by `promptkit --help`
    from .local import LocalFileStore
    from .store import OpenAIFileStore

STORES = "stores"  # the key of this plugin's Stores in `host.state`
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


def _stores(host: Host) -> Stores | None:
    stores: Stores | None = host.state.get(STORES)
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
def startup(host: Host) -> None:
    from .local import LocalFileStore

    # The directory is this plugin's own, `PROMPTKIT_DATA_DIR/files` under the name `files`.
    local = LocalFileStore(host.data_dir)
    local.open()
    api_key = host.setting("PROMPTKIT_FILES_API_KEY") or host.setting("OPENAI_API_KEY")
    if not api_key:
        host.log.info(
            "uploads go to the local store; set OPENAI_API_KEY to keep them in OpenAI Files"
        )
        host.state[STORES] = Stores(local=local, openai=None)
        return
    try:
        base_url = files_base_url(host.settings.environ)
    except UnsafeFilesURL as error:
        if host.setting("PROMPTKIT_FILES_BASE_URL"):
            raise  # asked for by name: say so at start-up
        # Chat pointed at a model server elsewhere: keep the files here instead.
        host.log.warning("%s; uploads go to the local store", error)
        host.state[STORES] = Stores(local=local, openai=None)
        return
    from .store import OpenAIFileStore  # the SDK is imported only when it is used

    openai_store = OpenAIFileStore(
        api_key=api_key,
        base_url=base_url,
        purpose=host.setting("PROMPTKIT_FILES_PURPOSE") or DEFAULT_PURPOSE,
    )
    host.state[STORES] = Stores(local=local, openai=openai_store)


@hookimpl
async def shutdown(host: Host) -> None:
    stores = host.state.pop(STORES, None)
    if stores is not None and stores.openai is not None:
        await stores.openai.close()


@hookimpl(trylast=True)
async def store_file(upload: Upload, host: Host) -> StoredFile | None:
    stores = _stores(host)
    if stores is None:
        return None
    return await (stores.openai or stores.local).put(upload)


@hookimpl(trylast=True)
def read_stored_file(stored: StoredFile, host: Host) -> AsyncIterator[bytes] | None:
    stores = _stores(host)
    store = stores.owner_of(stored) if stores else None
    return None if store is None else store.read(stored.provider_file_id)


@hookimpl(trylast=True)
async def delete_stored_file(stored: StoredFile, host: Host) -> bool | None:
    stores = _stores(host)
    store = stores.owner_of(stored) if stores else None
    if store is None:
        return None
    await store.delete(stored.provider_file_id)
    return True
