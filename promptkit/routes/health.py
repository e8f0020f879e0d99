"""Liveness and readiness: public, no credential needed."""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from typing import Any, Literal, NotRequired, TypedDict

from quart import Blueprint

from .. import context
from ..db.engine import PoolExhausted
from ..metrics import offers_metrics_token
from ..migrate import HEAD

blueprint = Blueprint("health", __name__)


class ReadyBody(TypedDict):
    """What `/health/ready` answers."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, str]  # database, pool, migrations (when the pool answered), models
    plugins: NotRequired[list[dict[str, str | None]]]  # for a bearer of the metrics token only
    stale_model_listings: NotRequired[dict[str, Any]]  # idem, when some listing failed


@blueprint.get("/health")
async def live() -> dict[str, str]:
    """Liveness: the process answers; touches nothing."""
    return {"status": "ok"}


@blueprint.get("/health/ready")
async def ready() -> tuple[ReadyBody, int] | tuple[ReadyBody, int, dict[str, str]]:
    """Readiness: database reachable, a pooled connection free, migrations at head, model
    listings current or stale; the installed plugins and their versions only for a bearer of
    the metrics token. Answers within about 2 s whatever the database does."""
    checks: dict[str, str] = {}
    checks["database"], checks["pool"] = await _database_and_pool()
    if checks["pool"] == "ok":
        applied = await context.db().schema_revisions()
        checks["migrations"] = "ok" if applied == {HEAD} else "pending"
    # A stale model listing still serves (its last good models), so it does not fail readiness.
    models = context.app().models.status()
    checks["models"] = models["status"]
    healthy = checks["pool"] == "ok" and checks.get("migrations") == "ok"
    body: ReadyBody = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if offers_metrics_token():  # what is installed helps an attacker: operators only
        body["plugins"] = _installed_plugins()
        if "stale" in models:
            body["stale_model_listings"] = models["stale"]
    if checks["pool"] == "saturated":  # busy, not broken: soon ready again
        return body, 503, {"Retry-After": "1"}
    return body, 200 if healthy else 503


async def _database_and_pool() -> tuple[str, str]:
    """(`database`, `pool`): `ok` and `ok`; `ok` and `saturated` when every pooled connection
    stayed busy for a second yet the server answers a connection of its own; `unreachable`
    and `unknown` when the server does not answer."""
    db = context.db()
    try:
        await asyncio.wait_for(db.ping(wait=min(1.0, db.pool_timeout)), timeout=2)
        return "ok", "ok"
    except PoolExhausted:
        pass
    except Exception:
        return "unreachable", "unknown"
    try:
        await asyncio.wait_for(db.ping_outside_the_pool(), timeout=1)
    except Exception:
        return "unreachable", "unknown"  # a connection that hangs also looks like a busy pool
    return "ok", "saturated"


def _installed_plugins() -> list[dict[str, str | None]]:
    registered = context.plugins().pm.list_name_plugin()
    return [
        {"name": str(name), "version": _version(plugin)}
        for name, plugin in sorted(registered, key=lambda item: str(item[0]))
        if plugin is not None
    ]


def _version(plugin: object) -> str | None:
    """The version of the distribution that installed the plugin, if one did."""
    package = getattr(plugin, "__name__", type(plugin).__module__).split(".")[0]
    for distribution in packages_distributions().get(package, ()):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return None
