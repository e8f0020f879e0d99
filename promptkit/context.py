"""Typed access to the running app's parts from inside a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from quart import current_app, g

from .hooktypes import Principal
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
