"""What an organization's member may do: the one place Clerk's claims become a role.

promptkit knows two roles. `admin` may change a project: rename and delete it, change its tools,
create, edit, activate, restore and delete its prompts, upload and delete its files. `member`
may read the project, its prompts and files, and start and use conversations (their own).

Clerk's role names reach `Principal.org_role` as `org:<role>` for both token versions (v2's
`o.rol` has no prefix, v1's `org_role` has it). A role is `admin` when its name, with or
without the `org:` prefix, is in `PROMPTKIT_ORG_ADMIN_ROLES` (default `org:admin,admin`: Clerk's
default admin role), or when the token grants one of the permissions listed there (an entry
with two colons, such as `org:projects:manage`, names a permission). Every other role,
`org:member` and custom roles included, is `member`. Without an active organization the caller
is the admin of their personal projects.

Nothing here is cached: the role is read from each request's token, so a role change or a
removal from the organization takes effect with the next token (60 s at most with Clerk).
"""

from __future__ import annotations

from .db.owners import Owner, Role
from .hooktypes import Principal


def role_of(principal: Principal, admin_roles: tuple[str, ...]) -> Role:
    """The caller's role in their active organization (`admin` with none: their own projects)."""
    if principal.org_id is None:
        return "admin"
    names = {_bare(name) for name in admin_roles if name.count(":") < 2}
    permissions = {name for name in admin_roles if name.count(":") >= 2}
    if principal.org_role is not None and _bare(principal.org_role) in names:
        return "admin"
    if permissions.intersection(principal.org_permissions):
        return "admin"
    return "member"


def owner_of(principal: Principal, admin_roles: tuple[str, ...]) -> Owner:
    """Who the data layer scopes this request to (see promptkit/db/owners.py)."""
    return Owner(principal.user_id, principal.org_id, role_of(principal, admin_roles))


def _bare(role: str) -> str:
    return role.strip().removeprefix("org:")
