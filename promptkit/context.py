"""Typed access to the running app's parts from inside a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from quart import current_app, g, request

from .hooktypes import Host, Principal
from .roles import owner_of

if TYPE_CHECKING:
    from .app import PromptkitApp
    from .db import Database
    from .db.owners import Owner
    from .plugins import Plugins
    from .settings import Settings


def app() -> PromptkitApp:
    return cast("PromptkitApp", current_app._get_current_object())  # type: ignore[attr-defined]


def db() -> Database:
    return app().db


def plugins() -> Plugins:
    return app().plugins


def settings() -> Settings:
    return app().settings


def principal() -> Principal:
    """The caller, set by the authentication step before every protected view."""
    return cast(Principal, g.principal)


def owner() -> Owner:
    """The caller as the data layer scopes them: user, active organization and role."""
    return owner_of(principal(), settings().org_admin_roles)


def host() -> Host:
    """The Host of the plugin whose view is running: the one whose `register_routes` returned
    the view's blueprint. For a plugin's own views only (a kernel route has no Host)."""
    names = request.blueprints  # the view's blueprint, then its parents: the last was registered
    found = plugins().host_of_blueprint(names[-1]) if names else None
    if found is None:
        raise RuntimeError("context.host() is for the views of a plugin's own blueprints")
    return found
