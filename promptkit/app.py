"""The app factory: settings, plugins, database, routes and the one error shape."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from quart import Quart, Response, g, jsonify, request
from quart.testing.app import TestApp
from quart_schema import OpenAPIProvider, QuartSchema, RequestSchemaValidationError
from quart_schema.validation import QuerystringValidationError
from werkzeug.exceptions import BadRequest as WerkzeugBadRequest
from werkzeug.exceptions import HTTPException

from . import context, cors, graceful, metrics, observability, proxies, ratelimit
from .budget import Budgets, parse_budget
from .db import Database
from .errors import (
    ApiError,
    AuthenticationError,
    BadRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from .hooktypes import PUBLIC_ROUTE
from .models import Registry
from .plugins import PluginLoadError, Plugins, build_plugin_manager
from .replies.service import Replies
from .routes import (
    IdConverter,
    chat,
    conversations,
    files,
    health,
    models,
    projects,
    prompts,
    replies,
    request_class,
    search,
    tools,
)
from .schemas import OPENAPI_RESPONSES, Error
from .settings import Settings
from .tools import Registry as ToolRegistry

log = logging.getLogger(__name__)

# Open to anyone: health checks and the API's own description. (`/metrics` checks its own token.)
PUBLIC_ENDPOINTS = {"health.live", "health.ready", "openapi", "swagger_ui", "metrics.scrape"}


TEST_APP_TIMEOUT = 60  # seconds: see `PromptkitApp.test_app`


class PromptkitApp(Quart):
    settings: Settings
    db: Database
    plugins: Plugins
    replies: Replies
    models: Registry
    budgets: Budgets
    tools: ToolRegistry  # filled by the plugins' `register_tools` as the app starts serving

    def test_app(self) -> TestApp:
        """Quart's test app, started and stopped with 60 s to spare rather than 6: a plugin's
        `startup` may import its SDK for the first time in a test run, which a busy machine
        (CI, a laptop running two suites) can take more than 6 s over."""
        return TestApp(self, startup_timeout=TEST_APP_TIMEOUT, shutdown_timeout=TEST_APP_TIMEOUT)

    async def shutdown(self) -> None:
        # Streams that outlived the grace period are cut first, while the database is still
        # connected, so Quart's wait for background tasks includes storing their replies.
        await graceful.cut_requests_in_flight(self)
        await self.replies.stop_all()  # resumable replies run on without a request
        await super().shutdown()


def create_app(settings: Settings | None = None, *, plugins: Iterable[object] = ()) -> PromptkitApp:
    """Build an app. `plugins` are registered beside the installed ones (tests use this)."""
    settings = settings or Settings.from_env()
    app = PromptkitApp(__name__, static_folder=None)
    app.settings = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_json_bytes
    app.request_class = request_class(
        {
            files.UPLOAD_PATH: settings.max_upload_bytes + files.ENVELOPE_BYTES,
            # useChat sends the whole history with every message (only the last one is read).
            re.compile("/chat"): settings.max_chat_bytes,
        }
    )
    app.config["QUART_SCHEMA_CONVERSION_PREFERENCE"] = "pydantic"
    app.url_map.converters["id"] = IdConverter
    app.db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout,
        pgbouncer=settings.db_pgbouncer,
    )
    app.plugins = Plugins(
        build_plugin_manager(settings.disabled_plugins, plugins),
        app,
        settings,
        trace=settings.trace_plugins,
    )
    app.replies = Replies(app)
    app.models = Registry(
        app.plugins,
        allowed=settings.models,
        default=settings.default_model,
        refresh_seconds=settings.models_refresh_seconds,
    )
    app.budgets = Budgets(
        parse_budget(settings.token_budget),
        settings.redis_url,
        parse_budget(settings.org_token_budget, "PROMPTKIT_ORG_TOKEN_BUDGET"),
    )
    app.tools = ToolRegistry(settings.tools)
    QuartSchema(
        app,
        info={"title": "promptkit", "version": "0.1.0"},
        security_schemes={"bearer": {"type": "http", "scheme": "bearer", "bearer_format": "JWT"}},
        security=[{"bearer": []}],
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=_OpenAPI,
    )
    routes = (health, projects, prompts, conversations, chat, replies, files, search)
    for module in (*routes, models, tools):
        app.register_blueprint(module.blueprint)
    for plugin_name, blueprint in app.plugins.routes():
        if blueprint.name in app.blueprints:
            raise PluginLoadError(
                f"plugin {plugin_name!r}: the blueprint name {blueprint.name!r} is taken"
            )
        app.register_blueprint(blueprint)

    @app.before_serving
    async def start() -> None:
        await app.db.connect()
        try:
            await app.plugins.startup()
            try:
                app.tools = ToolRegistry(app.settings.tools)  # a fresh one for each start
                await app.plugins.register_tools(app.tools)
                await app.models.start()  # after `startup`: listing may need a plugin's client
            except BaseException:
                await app.plugins.shutdown()
                raise
        except BaseException:
            await app.db.disconnect()  # a start that fails leaves no connection (or thread) open
            raise
        await app.replies.start()
        if app.budgets.any and app.budgets.redis is None:
            log.warning(
                "PROMPTKIT_TOKEN_BUDGET without REDIS_URL: each process keeps its own budget,"
                " so several workers or instances each allow the whole budget"
            )

    @app.after_serving
    async def stop() -> None:
        await app.replies.close()
        await app.models.stop()
        await app.plugins.shutdown()
        app.budgets.close()
        await app.db.disconnect()

    proxies.init_app(app, settings.trusted_proxies)
    # Request ids, metrics and CORS first, so that refused requests are logged and counted too.
    observability.init_app(app)
    metrics.init_app(app)
    graceful.init_app(app)
    cors.init_app(app, settings.cors_origins)

    @app.before_request
    async def authenticate() -> None:
        # An unknown route or method answers 404/405 before any credential is asked for;
        # a CORS preflight never carries one.
        if request.url_rule is None or request.endpoint in PUBLIC_ENDPOINTS:
            return
        if getattr(app.view_functions.get(request.endpoint or ""), PUBLIC_ROUTE, False):
            return  # a plugin's public route: it checks its own credential
        if request.method == "OPTIONS":
            return
        g.principal = await context.plugins().authenticate(request)

    ratelimit.init_app(app)  # after authenticate: limits are per user

    @app.before_request
    async def decode_json_body() -> None:
        """Every way a JSON body can fail to decode is a 400 here, before any view runs.

        Quart raises these from deep inside `get_json` (a `UnicodeDecodeError`, a
        `RecursionError`) where no handler can tell them from a bug. The parsed body stays
        cached on the request, so views and `validate_request` do not parse it again. A JSON
        body of the wrong shape is the views' 422; an empty one is left to them too.
        """
        if request.url_rule is None or not request.is_json:
            return
        if not await request.get_data(cache=True):
            return
        try:
            await request.get_json()
        except UnicodeDecodeError:
            raise BadRequest("the body is not valid UTF-8") from None
        except RecursionError:
            raise BadRequest("the JSON body is nested too deeply") from None
        except WerkzeugBadRequest:
            raise BadRequest("the body is not valid JSON") from None

    _register_error_handlers(app)
    return app


class _OpenAPI(OpenAPIProvider):
    """quart-schema's document, plus what it cannot describe: the responses a view declares
    with `schemas.document_raw_responses` (a stream), a DELETE's empty 204, and every
    operation's errors in the one error shape."""

    def build_paths(self, rule: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        raw = getattr(self._app.view_functions[rule.endpoint], OPENAPI_RESPONSES, {})
        error, error_components = self.build_response_object(Error, None)
        components.update(error_components)
        error["description"] = 'An error, as `{"error": {"code", "message"}}`'
        for operations in paths.values():
            for method, operation in operations.items():
                # String keys throughout: the document's JSON is written with sorted keys.
                responses = {str(status): item for status, item in operation["responses"].items()}
                responses.update((str(status), item) for status, item in raw.items())
                if method == "delete" and not any(s.startswith("2") for s in responses):
                    responses["204"] = {"description": "Deleted; no body"}
                # Ranges, not `default`: a 2xx that quart-schema does not know stays undocumented.
                operation["responses"] = {**responses, "4XX": error, "5XX": error}
        return paths, components


def error_response(error: ApiError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    response = jsonify({"error": body})
    response.status_code = error.status
    if isinstance(error, AuthenticationError):
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _register_error_handlers(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        return error_response(error)

    @app.errorhandler(RequestSchemaValidationError)
    async def invalid_request(error: RequestSchemaValidationError) -> Response:
        if not isinstance(error, QuerystringValidationError) and not request.is_json:
            return error_response(UnsupportedMediaType("send the body as application/json"))
        details = _validation_details(error.validation_error)
        return error_response(ValidationFailed("the request has invalid fields", details=details))

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        # One code per status that promptkit raises itself, whoever raised it.
        code = _CODES.get(status) or (error.name or "error").lower().replace(" ", "_")
        message = error.description or error.name or "error"
        response = error_response(_StatusError(status, code, message))
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(_StatusError(500, "internal_error", "internal server error"))


_CODES = {PayloadTooLarge.status: PayloadTooLarge.code}


class _StatusError(ApiError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _validation_details(error: Exception) -> list[dict[str, Any]]:
    """Where and what, without echoing the input back (it may hold anything)."""
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return [{"loc": [], "msg": "the body must be a JSON object"}]
    return [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type")}
        for item in errors()
    ]
