"""Liveness and readiness: public, no credential needed."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint

from .. import context
from ..migrate import HEAD

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
async def live() -> dict[str, str]:
    """Liveness: the process answers; touches nothing."""
    return {"status": "ok"}


@blueprint.get("/health/ready")
async def ready() -> tuple[dict[str, Any], int]:
    """Readiness: database reachable, migrations at head, plugins loaded."""
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(context.db().ping(), timeout=2)
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    if checks["database"] == "ok":
        applied = await context.db().schema_revisions()
        checks["migrations"] = "ok" if applied == {HEAD} else "pending"
    plugins = context.plugins().pm.list_name_plugin()
    checks["plugins"] = sorted(str(name) for name, plugin in plugins if plugin is not None)
    healthy = checks["database"] == "ok" and checks.get("migrations") == "ok"
    return {"status": "ok" if healthy else "unavailable", "checks": checks}, (
        200 if healthy else 503
    )
