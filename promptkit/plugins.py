"""The plugin manager and the facade: the one place that calls `pm.hook`."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pluggy
from quart import Quart, Request

from . import hookspecs
from .errors import ApiError, AuthenticationError, ServiceUnavailable
from .hooktypes import ChatRequest, Model, Principal, StoredFile, StreamEnd, Upload

log = logging.getLogger(__name__)

GROUP = "promptkit"


class PluginLoadError(RuntimeError):
    """A plugin could not be loaded or declares a hook that does not exist."""


def build_plugin_manager(disabled: Iterable[str] = (), extra: Iterable[object] = ()) -> Any:
    """Make a plugin manager with every installed plugin except `disabled`, plus `extra`."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)  # blocked before loading: a disabled plugin is never imported
    for entry_point in importlib.metadata.entry_points(group=GROUP):
        if pm.is_blocked(entry_point.name) or pm.get_plugin(entry_point.name) is not None:
            continue
        try:
            plugin = entry_point.load()
            pm.register(plugin, name=entry_point.name)
        except Exception as error:
            raise PluginLoadError(f"plugin {entry_point.name!r} failed to load: {error}") from error
    for plugin in extra:
        pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginLoadError(f"plugin {error.plugin!r}: {error}") from error
    return pm


def describe_plugins(pm: Any) -> list[dict[str, Any]]:
    """Name, version, hooks and whether built in, for `promptkit plugins`."""
    distributions = {ep.name: ep.dist for ep in importlib.metadata.entry_points(group=GROUP)}
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda pair: str(pair[0])):
        if plugin is None:  # blocked
            continue
        dist = distributions.get(name)
        rows.append(
            {
                "name": name,
                "version": dist.version if dist else None,
                "hooks": sorted(caller.name for caller in pm.get_hookcallers(plugin) or []),
                "builtin": bool(dist and dist.name == "promptkit"),
            }
        )
    return rows


def add_plugin_commands(pm: Any, cli: Any) -> None:
    """Let every plugin add its subcommands to the `promptkit` command line."""
    for impl in _in_call_order(pm.hook.register_commands):
        try:
            impl.function(**_args_for(impl, cli=cli))
        except Exception as error:
            raise PluginLoadError(f"plugin {impl.plugin_name!r}: {error}") from error


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _first_answer(results: list[Any]) -> Any:
    """Await each answer in call order and keep the first that is not None.

    Pluggy has already called every hookimpl; the coroutines of the ones after the winner were
    never started, so they are closed rather than left to warn.
    """
    answer = None
    for index, result in enumerate(results):
        try:
            answer = await _resolve(result)
        except BaseException:
            _close_unstarted(results[index + 1 :])
            raise
        if answer is not None:
            _close_unstarted(results[index + 1 :])
            return answer
    return None


def _close_unstarted(results: list[Any]) -> None:
    for result in results:
        if inspect.iscoroutine(result):
            result.close()


# Every row stores its owner in a VARCHAR(255): a subject that column cannot hold (too long, a
# NUL PostgreSQL refuses in text, a lone surrogate no encoding can carry) is refused here, once,
# whatever plugin vouched for it, rather than failing as a 500 in the first statement.
OWNER_ID_MAX = 255


def _storable_owner(user_id: object) -> bool:
    if not isinstance(user_id, str) or not 0 < len(user_id) <= OWNER_ID_MAX or "\0" in user_id:
        return False
    try:
        user_id.encode()
    except UnicodeEncodeError:
        return False
    return True


class Plugins:
    """What the kernel asks of plugins; every hook call goes through here."""

    def __init__(self, pm: Any, app: Quart) -> None:
        self.pm = pm
        self.app = app

    async def authenticate(self, request: Request) -> Principal:
        try:
            principal = await _first_answer(
                self.pm.hook.authenticate(request=request, app=self.app)
            )
        except ApiError:
            raise
        except Exception as error:
            log.exception("authenticate hook failed")
            raise ServiceUnavailable("authentication is unavailable") from error
        if principal is None:
            raise AuthenticationError("missing or unrecognised credential")
        if not isinstance(principal, Principal):
            raise TypeError(f"authenticate returned {type(principal).__name__}, not Principal")
        if not _storable_owner(principal.user_id):
            raise AuthenticationError("the credential's subject is not a usable user id")
        return principal

    async def register_models(self) -> dict[str, list[Model] | Exception]:
        """Each plugin's models (their `provider` set to its name), or the error it raised."""
        listings: dict[str, list[Model] | Exception] = {}
        for impl in _in_call_order(self.pm.hook.register_models):
            models: list[Model] = []

            def register(
                model: Model, _into: list[Model] = models, _by: str = impl.plugin_name
            ) -> None:
                if not isinstance(model, Model):
                    raise TypeError(f"register() takes a promptkit.Model, not {type(model)}")
                _into.append(dataclasses.replace(model, provider=_by))

            try:
                await _resolve(impl.function(**_args_for(impl, register=register, app=self.app)))
            except Exception as error:
                listings[impl.plugin_name] = error
            else:
                listings[impl.plugin_name] = models
        return listings

    def serves_models(self, plugin_name: str) -> bool:
        return any(
            impl.plugin_name == plugin_name for impl in self.pm.hook.complete_stream.get_hookimpls()
        )

    async def complete_stream(
        self, chat: ChatRequest, provider: str
    ) -> AsyncIterator[str | StreamEnd] | None:
        """Ask the plugin named `provider` (the one that registered the model) for the reply."""
        for impl in self.pm.hook.complete_stream.get_hookimpls():
            if impl.plugin_name == provider:
                stream: AsyncIterator[str | StreamEnd] | None = await _resolve(
                    impl.function(**_args_for(impl, chat=chat, app=self.app))
                )
                return stream
        return None

    async def store_file(
        self, upload: Upload, project: dict[str, Any], principal: Principal
    ) -> StoredFile | None:
        stored: StoredFile | None = await _first_answer(
            self.pm.hook.store_file(
                upload=upload, project=project, principal=principal, app=self.app
            )
        )
        return stored

    async def delete_stored_file(self, stored: StoredFile, principal: Principal) -> bool:
        handled = await _first_answer(
            self.pm.hook.delete_stored_file(stored=stored, principal=principal, app=self.app)
        )
        return bool(handled)

    async def message_saved(
        self, message: dict[str, Any], conversation: dict[str, Any], principal: Principal
    ) -> None:
        await self._notify(
            "on_message_saved",
            message=message,
            conversation=conversation,
            principal=principal,
            app=self.app,
        )

    async def startup(self) -> None:
        for impl in _in_call_order(self.pm.hook.startup):
            try:
                await _resolve(impl.function(**_args_for(impl, app=self.app)))
            except Exception as error:
                raise PluginLoadError(
                    f"plugin {impl.plugin_name!r} failed to start: {error}"
                ) from error

    async def shutdown(self) -> None:
        await self._notify("shutdown", app=self.app)

    async def _notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call every hookimpl, each under its own try: pluggy would stop at the first error."""
        for impl in _in_call_order(getattr(self.pm.hook, hook_name)):
            try:
                await _resolve(impl.function(**_args_for(impl, **kwargs)))
            except Exception:
                log.exception("plugin %r failed in %s", impl.plugin_name, hook_name)


def _in_call_order(caller: Any) -> list[Any]:
    """The hookimpls in the order pluggy would call them (it walks its list backwards)."""
    return [
        impl for impl in reversed(caller.get_hookimpls()) if not (impl.hookwrapper or impl.wrapper)
    ]


def _args_for(impl: Any, **kwargs: Any) -> dict[str, Any]:
    return {name: kwargs[name] for name in impl.argnames}
