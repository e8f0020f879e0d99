"""The plugin manager and the facade: the one place that calls `pm.hook`."""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import inspect
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import ApiError, AuthenticationError, ServiceUnavailable
from .hooktypes import (
    ChatMessage,
    ChatRequest,
    Host,
    Model,
    Principal,
    SharedHttp,
    StoredFile,
    StreamEnd,
    Upload,
)
from .settings import Settings
from .tools import Registry, Tool, ToolRegistryError

if TYPE_CHECKING:
    from quart import Blueprint, Quart, Request

log = logging.getLogger(__name__)
trace_log = logging.getLogger("promptkit.plugins.trace")

GROUP = "promptkit"
# The facade's methods that PROMPTKIT_TRACE_PLUGINS=1 logs, and the hook each one calls.
TRACED = {
    "authenticate": "authenticate",
    "complete_stream": "complete_stream",
    "store_file": "store_file",
    "read_stored_file": "read_stored_file",
    "delete_stored_file": "delete_stored_file",
    "conversation_title": "conversation_title",
    "message_saved": "on_message_saved",
    "messages_deleted": "on_message_deleted",
    "startup": "startup",
    "shutdown": "shutdown",
}


class PluginLoadError(RuntimeError):
    """A plugin could not be loaded or declares a hook that does not exist."""


def build_plugin_manager(disabled: Iterable[str] = (), extra: Iterable[object] = ()) -> Any:
    """Make a plugin manager with every installed plugin except `disabled`, plus `extra`.

    An `extra` plugin that is also installed (a test passing the module its package registers)
    takes the installed copy's place rather than failing as registered twice.
    """
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    installed = {entry_point.name: entry_point for entry_point in _entry_points()}
    unknown = sorted(set(disabled) - set(installed))
    if unknown:
        raise PluginLoadError(
            f"PROMPTKIT_DISABLED_PLUGINS names {', '.join(map(repr, unknown))}, which is not "
            f"installed; the installed plugins are: {', '.join(sorted(installed)) or 'none'}"
        )
    for name in disabled:
        pm.set_blocked(name)  # blocked before loading: a disabled plugin is never imported
    for name, entry_point in installed.items():
        if pm.is_blocked(name) or pm.get_plugin(name) is not None:
            continue
        try:
            plugin = entry_point.load()
            pm.register(plugin, name=name)
        except Exception as error:
            raise PluginLoadError(f"plugin {name!r} failed to load: {error}") from error
    for plugin in extra:
        # An installed copy's name is kept: its Host, data directory and models follow it.
        kept = pm.get_name(plugin) if pm.is_registered(plugin) else None
        if kept is not None:
            pm.unregister(plugin)  # registered again below, among the extras
        pm.register(plugin, name=kept)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginLoadError(f"plugin {error.plugin!r}: {error}") from error
    return pm


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    seen: dict[str, importlib.metadata.EntryPoint] = {}
    for entry_point in importlib.metadata.entry_points(group=GROUP):
        seen.setdefault(entry_point.name, entry_point)  # the first one wins, as pluggy's does
    return list(seen.values())


def installed_names() -> set[str]:
    """The names of the installed plugins' entry points (what PROMPTKIT_DISABLED_PLUGINS takes)."""
    return {entry_point.name for entry_point in _entry_points()}


def describe_plugins(pm: Any, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Name, version, hooks, routes and whether built in, for `promptkit plugins`; a
    `register_routes` hookimpl is asked with a Host on `settings` (by default, the defaults)."""
    distributions = {ep.name: ep.dist for ep in importlib.metadata.entry_points(group=GROUP)}
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda pair: str(pair[0])):
        if plugin is None:  # blocked
            continue
        dist = distributions.get(name)
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        row = {
            "name": name,
            "version": dist.version if dist else None,
            "hooks": hooks,
            "builtin": bool(dist and dist.name == "promptkit"),
        }
        if "register_routes" in hooks:
            row["routes"] = _routes_of(pm, plugin, Host(name, settings or Settings()))
        rows.append(row)
    return rows


def _blueprints(answer: Any) -> list[Any]:
    """What a `register_routes` hookimpl returned, as a list: one blueprint, a list, or None."""
    return answer if isinstance(answer, list) else [answer] if answer else []


def _routes_of(pm: Any, plugin: object, host: Host) -> list[str]:
    """`METHOD /path` of each route a plugin adds, read off a throwaway app."""
    from quart import Quart

    probe = Quart("probe")
    [impl] = [impl for impl in pm.hook.register_routes.get_hookimpls() if impl.plugin is plugin]
    for blueprint in _blueprints(impl.function(**_args_for(impl, host=host))):
        probe.register_blueprint(blueprint)
    return sorted(
        f"{method} {rule.rule}"
        for rule in probe.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    )


def describe_call_order(pm: Any) -> dict[str, list[dict[str, Any]]]:
    """For each hook that some plugin implements: its plugins in the order they are asked,
    with the priority each asked for (`tryfirst`, `trylast`, or none), for `promptkit plugins
    --order`."""
    order = {}
    for name in sorted(vars(pm.hook)):
        caller = getattr(pm.hook, name)
        impls = _in_call_order(caller)
        if impls:
            order[name] = [
                {"plugin": impl.plugin_name, "priority": _priority(impl)} for impl in impls
            ]
    return order


def _priority(impl: Any) -> str | None:
    return "tryfirst" if impl.tryfirst else "trylast" if impl.trylast else None


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

    Every hookimpl has already been called (`Plugins._call_each`, as pluggy would); the
    coroutines of the ones after the winner were never started, so they are closed rather
    than left to warn.
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

    def __init__(self, pm: Any, app: Quart, settings: Settings, *, trace: bool = False) -> None:
        self.pm = pm
        self.app = app
        self._settings = settings
        self._http = SharedHttp()
        self._hosts: dict[str, Host] = {}
        self._route_owners: dict[str, str] = {}  # blueprint name -> the plugin that added it
        _warn_of_app_arguments(pm)
        if trace:  # replaced on this instance only: without tracing, no call pays for it
            for method, hook in TRACED.items():
                setattr(self, method, _traced(getattr(self, method), getattr(pm.hook, hook)))

    def host(self, plugin_name: str) -> Host:
        """The Host that the plugin named `plugin_name` gets in its hooks: one per app."""
        host = self._hosts.get(plugin_name)
        if host is None:
            host = self._hosts[plugin_name] = Host(plugin_name, self._settings, _http=self._http)
        return host

    def host_of_blueprint(self, blueprint_name: str) -> Host | None:
        """The Host of the plugin that added the blueprint `blueprint_name`, if one did."""
        owner = self._route_owners.get(blueprint_name)
        return None if owner is None else self.host(owner)

    def _args(self, impl: Any, **kwargs: Any) -> dict[str, Any]:
        """What `impl` names of `kwargs`, its own plugin's Host, and the (deprecated) app."""
        return _args_for(impl, host=self.host(impl.plugin_name), app=self.app, **kwargs)

    def _call_each(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Each hookimpl's answer, called in order as pluggy would: each with its own Host."""
        caller = getattr(self.pm.hook, hook_name)
        return [impl.function(**self._args(impl, **kwargs)) for impl in _in_call_order(caller)]

    async def authenticate(self, request: Request) -> Principal:
        try:
            principal = await _first_answer(self._call_each("authenticate", request=request))
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
                await _resolve(impl.function(**self._args(impl, register=register)))
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
                    impl.function(**self._args(impl, chat=chat))
                )
                return stream
        return None

    async def conversation_title(self, messages: list[ChatMessage], model: str) -> str | None:
        """The first plugin's title; None when none answers or the one asked raised (logged
        with its name: a title never fails a reply)."""
        for impl in _in_call_order(self.pm.hook.conversation_title):
            call = self._args(impl, messages=messages, model=model)
            try:
                title = await _resolve(impl.function(**call))
                if title is not None and not isinstance(title, str):
                    raise TypeError(f"a title must be a str, not {type(title).__name__}")
            except Exception as error:  # its type only: a provider's message may quote a key
                log.warning(
                    "plugin %r failed to name a conversation: %s",
                    impl.plugin_name,
                    type(error).__name__,
                )
                return None
            if title is not None:
                return title
        return None

    async def store_file(
        self, upload: Upload, project: Mapping[str, Any], principal: Principal
    ) -> StoredFile | None:
        stored: StoredFile | None = await _first_answer(
            self._call_each("store_file", upload=upload, project=project, principal=principal)
        )
        return stored

    async def read_stored_file(
        self, stored: StoredFile, principal: Principal
    ) -> AsyncIterator[bytes] | None:
        chunks: AsyncIterator[bytes] | None = await _first_answer(
            self._call_each("read_stored_file", stored=stored, principal=principal)
        )
        return chunks

    async def delete_stored_file(self, stored: StoredFile, principal: Principal) -> bool:
        handled = await _first_answer(
            self._call_each("delete_stored_file", stored=stored, principal=principal)
        )
        return bool(handled)

    async def message_saved(
        self, message: Mapping[str, Any], conversation: Mapping[str, Any], principal: Principal
    ) -> None:
        if not self.pm.hook.on_message_saved.get_hookimpls():
            return  # nobody observes: a chat does not pay for shaping what no one reads
        from .schemas import Conversation, Message

        await self._notify(
            "on_message_saved",
            # The API's own JSON shapes (ISO dates), as the hook promises: `json.dumps` works.
            message=Message.model_validate(message).model_dump(mode="json"),
            conversation=Conversation.model_validate(conversation).model_dump(mode="json"),
            principal=principal,
        )

    def observes_deletions(self) -> bool:
        """Whether some plugin observes deleted messages: a delete reads them back only then."""
        return bool(self.pm.hook.on_message_deleted.get_hookimpls())

    async def messages_deleted(
        self,
        messages: Sequence[Mapping[str, Any]],
        conversation: Mapping[str, Any],
        principal: Principal,
    ) -> None:
        """Tell the observers of each message deleted from `conversation`, in its order."""
        if not messages or not self.observes_deletions():
            return
        from .schemas import Conversation, Message

        shown = Conversation.model_validate(conversation).model_dump(mode="json")
        for message in messages:
            await self._notify(
                "on_message_deleted",
                message=Message.model_validate(message).model_dump(mode="json"),
                conversation=shown,
                principal=principal,
            )

    def routes(self) -> list[tuple[str, Blueprint]]:
        """Every plugin's blueprints, with the plugin's name; each blueprint's name is kept
        with it, so that its views find their Host (`promptkit.context.host()`)."""
        found: list[tuple[str, Blueprint]] = []
        for impl in _in_call_order(self.pm.hook.register_routes):
            try:
                answer = impl.function(**self._args(impl))
            except Exception as error:
                raise PluginLoadError(f"plugin {impl.plugin_name!r}: {error}") from error
            for blueprint in _blueprints(answer):
                found.append((impl.plugin_name, blueprint))
                self._route_owners.setdefault(blueprint.name, impl.plugin_name)
        return found

    async def startup(self) -> None:
        for impl in _in_call_order(self.pm.hook.startup):
            try:
                await _resolve(impl.function(**self._args(impl)))
            except Exception as error:
                await self._http.close()  # `shutdown` is not called after a failed start
                raise PluginLoadError(
                    f"plugin {impl.plugin_name!r} failed to start: {error}"
                ) from error

    async def shutdown(self) -> None:
        """Tell every plugin, then close the HTTP session they share (they may use it until
        then)."""
        try:
            await self._notify("shutdown")
        finally:
            await self._http.close()

    async def register_tools(self, registry: Registry) -> None:
        """Fill `registry` with every plugin's tools; a clash or a failure stops start-up."""
        for impl in _in_call_order(self.pm.hook.register_tools):

            def register(tool: Tool, plugin: str = impl.plugin_name) -> None:
                registry.register(tool, plugin)

            try:
                await _resolve(impl.function(**self._args(impl, register=register)))
            except ToolRegistryError as error:
                raise PluginLoadError(str(error)) from error
            except Exception as error:
                raise PluginLoadError(
                    f"plugin {impl.plugin_name!r} failed to register tools: {error}"
                ) from error
        try:
            registry.check_allowed()
        except ToolRegistryError as error:
            raise PluginLoadError(str(error)) from error

    async def _notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call every hookimpl, each under its own try: pluggy would stop at the first error."""
        for impl in _in_call_order(getattr(self.pm.hook, hook_name)):
            try:
                await _resolve(impl.function(**self._args(impl, **kwargs)))
            except Exception:
                log.exception("plugin %r failed in %s", impl.plugin_name, hook_name)


def _traced(method: Any, caller: Any) -> Any:
    """`method`, logging each call: the hook, its plugins in call order, the names of its
    arguments (never their values: they hold tokens and users' text), the outcome, and the
    time it took, awaited. Done here rather than by pluggy's own monitoring, which times only
    the synchronous call and so would miss every `async def` hookimpl's work."""

    @functools.wraps(method)
    async def traced(*args: Any, **kwargs: Any) -> Any:
        plugins = [impl.plugin_name for impl in _in_call_order(caller)]
        started = time.perf_counter()
        outcome = "passed"
        try:
            result = await method(*args, **kwargs)
            if result is not None:
                outcome = "answered"
            return result
        except BaseException as error:
            outcome = f"raised {type(error).__name__}"
            raise
        finally:
            trace_log.info(
                "hook %s %s in %.2f ms; plugins %s; arguments %s",
                caller.name,
                outcome,
                (time.perf_counter() - started) * 1000,
                plugins,
                sorted(caller.spec.argnames) if caller.spec else [],
            )

    return traced


def _in_call_order(caller: Any) -> list[Any]:
    """The hookimpls in the order pluggy would call them (it walks its list backwards)."""
    return [
        impl for impl in reversed(caller.get_hookimpls()) if not (impl.hookwrapper or impl.wrapper)
    ]


def _args_for(impl: Any, **kwargs: Any) -> dict[str, Any]:
    return {name: kwargs[name] for name in impl.argnames}


def _warn_of_app_arguments(pm: Any) -> None:
    """One warning per hookimpl that still names the deprecated `app`, as the app is built."""
    for hook_name in sorted(vars(pm.hook)):
        for impl in _in_call_order(getattr(pm.hook, hook_name)):
            if "app" in impl.argnames:
                log.warning(
                    "plugin %r names `app` in its %s hookimpl: `app` is deprecated and a major"
                    " version removes it; name `host` instead (docs/plugins.md)",
                    impl.plugin_name,
                    hook_name,
                )
