"""builtin_files: the `store_file` plugin that keeps uploads in the OpenAI Files API.

Configuration, read from the app's environment when it starts:
- `OPENAI_API_KEY` (required; without it this plugin passes and uploads answer 503),
- `OPENAI_BASE_URL` (optional: any server that speaks the OpenAI Files API),
- `PROMPTKIT_FILES_PURPOSE` (optional, default `user_data`): the `purpose` of every upload.

One `AsyncOpenAI` client per app lives in `app.extensions["promptkit_files"]`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from promptkit import StoredFile, Upload, hookimpl

if TYPE_CHECKING:
    from promptkit.app import PromptkitApp

    from .store import OpenAIFileStore

log = logging.getLogger(__name__)

EXTENSION = "promptkit_files"
DEFAULT_PURPOSE = "user_data"


def _store(app: PromptkitApp) -> OpenAIFileStore | None:
    store: OpenAIFileStore | None = app.extensions.get(EXTENSION)
    return store


@hookimpl
def startup(app: PromptkitApp) -> None:
    environ = app.settings.environ
    api_key = environ.get("OPENAI_API_KEY")
    if not api_key:
        log.info("file uploads are off: set OPENAI_API_KEY to store them in the OpenAI Files API")
        app.extensions[EXTENSION] = None
        return
    from .store import OpenAIFileStore  # the SDK is imported only when it is used

    app.extensions[EXTENSION] = OpenAIFileStore(
        api_key=api_key,
        base_url=environ.get("OPENAI_BASE_URL") or None,
        purpose=environ.get("PROMPTKIT_FILES_PURPOSE") or DEFAULT_PURPOSE,
    )


@hookimpl
async def shutdown(app: PromptkitApp) -> None:
    store = app.extensions.pop(EXTENSION, None)
    if store is not None:
        await store.close()


@hookimpl(trylast=True)
async def store_file(upload: Upload, app: PromptkitApp) -> StoredFile | None:
    store = _store(app)
    return None if store is None else await store.put(upload)


@hookimpl(trylast=True)
async def delete_stored_file(stored: StoredFile, app: PromptkitApp) -> bool | None:
    store = _store(app)
    if store is None or stored.provider != store.PROVIDER:
        return None
    await store.delete(stored.provider_file_id)
    return True
