"""The one owner-scoping rule of the data layer, for personal and organization projects.

A project belongs to a user (`owner_kind` "user") or to an organization ("organization");
`owner_id` is the user's or the organization's id. Whoever asks is an `Owner`: the user, the
organization active in their token (if any) and their role in it. The caller's projects are
those of their active organization, or, with none, their personal ones: never both, so
switching organizations switches every list. Everything else is scoped through its project:
prompts and files are the project's; conversations (and their messages) are also their
starter's alone, admins included.

Every query function takes the `Owner` and applies `project_scope` (or `in_scope`) itself;
routes never check ownership on top. Changes that only admins may make go through
`may_change` first, so a member who can see the row gets 403 and anyone else the 404 of a row
that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import sqlalchemy as sa

from ..errors import Forbidden
from .engine import Database
from .tables import projects

Role = Literal["admin", "member"]
OwnerKind = Literal["user", "organization"]


@dataclass(frozen=True, slots=True)
class Owner:
    """Who asks, as the data layer scopes it. Without an organization, the user owns (and is
    the admin of) their personal projects."""

    user_id: str
    org_id: str | None = None
    role: Role = "admin"

    @property
    def kind(self) -> OwnerKind:
        return "organization" if self.org_id else "user"

    @property
    def tenant_id(self) -> str:
        """The id stored in `projects.owner_id` for the projects this owner sees."""
        return self.org_id or self.user_id

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def params(self) -> dict[str, str]:
        """The bound values of the prepared statements' scope (see `prepared_scope`)."""
        return {"owner_id": self.user_id, "tenant_kind": self.kind, "tenant_id": self.tenant_id}


def project_scope(owner: Owner) -> sa.ColumnElement[bool]:
    """The rows of `projects` this owner sees."""
    return sa.and_(projects.c.owner_kind == owner.kind, projects.c.owner_id == owner.tenant_id)


def in_scope(owner: Owner, project_id: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """True when the project `project_id` (a column of a child table) is one the owner sees."""
    return sa.exists().where(projects.c.id == project_id, project_scope(owner))


def prepared_scope(project_id: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """`in_scope` for a prepared statement: bind `Owner.params()` when running it."""
    return sa.exists().where(
        projects.c.id == project_id,
        projects.c.owner_kind == sa.bindparam("tenant_kind"),
        projects.c.owner_id == sa.bindparam("tenant_id"),
    )


class OwnerRow(TypedDict):
    """A project's `owner` as the API shows it (`schemas.ProjectOwner`)."""

    kind: OwnerKind
    id: str


def owner_shape(kind: OwnerKind, owner_id: str) -> OwnerRow:
    """A project's `owner` as the API shows it."""
    return {"kind": kind, "id": owner_id}


async def may_change(db: Database, owner: Owner, table: sa.Table, where: Any) -> bool:
    """Whether `owner` may change the row of `table` that `where` (already owner-scoped)
    picks: admins may (the change itself then finds the row or not). A member gets Forbidden
    for a row they can see, and False (answer "not found") for one they cannot."""
    if owner.is_admin:
        return True
    if await db.fetch_one(sa.select(table.c.id).where(where)) is not None:
        raise Forbidden("your role in this organization may not do this (admins only)")
    return False
