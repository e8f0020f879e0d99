"""The model registry: what `register_models` plugins serve, which of it is allowed, the default.

Every chat names a model (or gets the default); the registry resolves the name (an id or an
alias) to the one plugin that registered it, so `complete_stream` is asked of that plugin only.
Plugins are asked again on a timer; a plugin whose listing fails keeps its last good models and
`/health/ready` says the listing is stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from .errors import ProviderError, ServiceUnavailable, UnknownModel
from .hooktypes import ChatRequest, Model, StreamEnd

if TYPE_CHECKING:
    from .app import PromptkitApp
    from .plugins import Plugins

log = logging.getLogger(__name__)

# Today's default when PROMPTKIT_MODEL is unset and some plugin registers it.
PREFERRED_DEFAULT = "gpt-4.1-mini"


class ModelRegistryError(RuntimeError):
    """Registrations that cannot both hold (one id, two plugins), or a default that is not there."""


@dataclass(frozen=True)
class _Listing:
    models: tuple[Model, ...]
    listed_at: float  # time.time() of the last good listing
    error: str | None = None  # why the latest listing failed; None when it was good


class Registry:
    def __init__(
        self,
        plugins: Plugins,
        *,
        allowed: tuple[str, ...] = (),
        default: str | None = None,
        refresh_seconds: float = 300.0,
    ) -> None:
        self._plugins = plugins
        self._patterns = allowed  # ids or glob patterns; empty: every registered model
        self._configured_default = default
        self._refresh_seconds = refresh_seconds
        self._listings: dict[str, _Listing] = {}
        self._by_name: dict[str, Model] = {}  # ids and aliases
        self._models: list[Model] = []  # in registration order
        self._allowed: set[str] = set()  # ids that PROMPTKIT_MODELS lets chats name
        self.default: str | None = None
        self._task: asyncio.Task[None] | None = None

    # -- start-up and refresh --------------------------------------------------------------

    async def start(self, *, refreshing: bool = True) -> None:
        """List every plugin's models and settle the default; raise when they cannot hold."""
        await self.refresh(strict=True)
        self._settle_default()
        if refreshing:
            self._task = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                await self.refresh(strict=False)
            except Exception:
                log.exception("refreshing the model registry failed; the old one stays")

    async def refresh(self, *, strict: bool) -> None:
        """Ask every plugin again. A plugin that fails keeps its last good listing. Two plugins
        claiming one name raise when `strict` (start-up); later, the old registry stays."""
        now = time.time()
        listings = dict(self._listings)
        for plugin, answer in (await self._plugins.register_models()).items():
            if isinstance(answer, Exception):
                reason = _safe_reason(answer)
                kept = listings.get(plugin)
                log.warning(
                    "plugin %r could not list its models (%s); keeping %d from its last listing",
                    plugin,
                    reason,
                    len(kept.models) if kept else 0,
                )
                listings[plugin] = _Listing(
                    kept.models if kept else (), kept.listed_at if kept else 0, reason
                )
            else:
                listings[plugin] = _Listing(tuple(answer), now)
        try:
            by_name, models = _index(listings, self._plugins)
        except ModelRegistryError:
            if strict:
                raise
            log.exception("the refreshed model registrations conflict; the old registry stays")
            return
        self._listings, self._by_name, self._models = listings, by_name, models
        self._allowed = {model.id for model in models if self._matches(model.id)}
        if self._configured_default is None:
            self._pick_default()  # a model that a refresh found may be the better default

    def _settle_default(self) -> None:
        wanted = self._configured_default
        if wanted is not None:
            model = self._by_name.get(wanted)
            if model is not None and self.is_allowed(model):
                self.default = model.id
                return
            stale = [name for name, listing in self._listings.items() if listing.error]
            message = (
                f"PROMPTKIT_MODEL={wanted!r} is not a registered, allowed model; registered: "
                + (", ".join(m.id for m in self._models) or "none")
                + (
                    f"; allowed by PROMPTKIT_MODELS: {', '.join(self._patterns)}"
                    if self._patterns
                    else ""
                )
            )
            if not stale:
                raise ModelRegistryError(message)
            # A listing that failed may hold it: serve, and let the next refresh find it.
            log.warning("%s (the listing of %s failed)", message, ", ".join(stale))
            self.default = wanted
            return
        self._pick_default()

    def _pick_default(self) -> None:
        preferred = self._by_name.get(PREFERRED_DEFAULT)
        if preferred is not None and self.is_allowed(preferred):
            self.default = preferred.id
        else:
            allowed = self.allowed()
            self.default = allowed[0].id if allowed else None

    # -- what requests ask -----------------------------------------------------------------

    def _matches(self, model_id: str) -> bool:
        if not self._patterns:
            return True
        return any(fnmatch.fnmatchcase(model_id, pattern) for pattern in self._patterns)

    def is_allowed(self, model: Model) -> bool:
        return model.id in self._allowed

    def describe(self) -> list[dict[str, Any]]:
        """Every registered model for `promptkit models`, allowed or not."""
        return [
            {**shape(model, self.default), "allowed": self.is_allowed(model)}
            for model in self._models
        ]

    def allowed(self) -> list[Model]:
        return [model for model in self._models if self.is_allowed(model)]

    def registered(self) -> list[Model]:
        return list(self._models)

    def resolve(self, name: str | None) -> Model:
        """The model a chat asks for (None: the default); `UnknownModel` when it is not
        registered or not allowed, before anything is stored or sent."""
        if name is None:
            if self.default is None:
                raise ServiceUnavailable("no installed provider registers a model")
            name = self.default
        model = self._by_name.get(name)
        if model is None or not self.is_allowed(model):
            raise UnknownModel(
                f"the model {name!r} is not available here; GET /models lists the ones that are"
            )
        return model

    async def open_stream(self, chat: ChatRequest) -> AsyncIterator[str | StreamEnd]:
        """The reply to `chat` from the plugin that registered `chat.model` (not started)."""
        model = self.resolve(chat.model)
        stream = await self._plugins.complete_stream(chat, model.provider)
        if stream is None:
            raise ServiceUnavailable(f"the provider of the model {chat.model!r} is not ready")
        return stream

    def status(self) -> dict[str, Any]:
        """For `/health/ready`: `ok`, or which plugins' listings failed and what was kept."""
        stale = {
            plugin: {
                "error": listing.error,
                "kept_models": len(listing.models),
                "listed_at": _rfc3339(listing.listed_at) if listing.listed_at else None,
            }
            for plugin, listing in self._listings.items()
            if listing.error
        }
        return {"status": "stale", "stale": stale} if stale else {"status": "ok"}


async def describe_registry(app: PromptkitApp) -> list[dict[str, Any]]:
    """Start the plugins (no database, no server), list their models, stop them again."""
    await app.plugins.startup()
    try:
        await app.models.start(refreshing=False)
        return app.models.describe()
    finally:
        await app.plugins.shutdown()


class CapabilitiesRow(TypedDict):
    """What a model can do, as `GET /models` shows it (`schemas.ModelCapabilities`)."""

    streaming: bool
    tools: bool
    attachments: list[str]
    reasoning: bool


class ModelRow(TypedDict):
    """A model as `GET /models` shows it (`schemas.ModelOut`); a test keeps the two in step."""

    id: str
    display_name: str
    name: str
    provider: str
    aliases: list[str]
    capabilities: CapabilitiesRow
    context_window: int | None
    default: bool


def shape(model: Model, default: str | None) -> ModelRow:
    """A model as `GET /models` shows it."""
    capabilities = model.capabilities
    name = model.display_name or model.id
    return {
        "id": model.id,
        "display_name": name,
        "name": name,
        "provider": model.provider,
        "aliases": list(model.aliases),
        "capabilities": {
            "streaming": capabilities.streaming,
            "tools": capabilities.tools,
            "attachments": list(capabilities.attachments),
            "reasoning": capabilities.reasoning,
        },
        "context_window": model.context_window,
        "default": model.id == default,
    }


def _index(listings: dict[str, _Listing], plugins: Plugins) -> tuple[dict[str, Model], list[Model]]:
    by_name: dict[str, Model] = {}
    models: list[Model] = []
    for plugin, listing in listings.items():
        if listing.models and not plugins.serves_models(plugin):
            raise ModelRegistryError(
                f"plugin {plugin!r} registers models but implements no complete_stream"
            )
        for model in listing.models:
            for name in (model.id, *model.aliases):
                taken = by_name.get(name)
                if taken is not None and (taken.provider != plugin or taken.id != model.id):
                    first, second = sorted((taken.provider, plugin))
                    raise ModelRegistryError(
                        f"the model {name!r} is registered twice: by plugin {first!r}"
                        f" and by plugin {second!r}"
                    )
                by_name[name] = model
            if model not in models:
                models.append(model)
    return by_name, models


def _safe_reason(error: Exception) -> str:
    # A plugin's own ProviderError carries a message meant to be shown; anything else may quote
    # a credential, so only its type is kept.
    return error.message if isinstance(error, ProviderError) else type(error).__name__


def _rfc3339(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
