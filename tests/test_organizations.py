"""Clerk organizations own projects: roles, personal conversations, and tenancy that cannot leak.

Two organizations, each with an admin and a member, plus a personal user. Every route is asked
by every actor: allowed, 403 (a member doing an admin action) or 404 (anyone outside, answered
byte for byte like an id that never existed). The tokens are real RS256 Clerk-shaped tokens,
v2 unless a test says v1.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from joserfc.jwk import RSAKey
from promptkit_clerk.local import mint_session_token
from promptkit_clerk.verify import principal_from
from werkzeug.datastructures import FileStorage

from promptkit import ChatRequest, Model, StreamEnd, hookimpl
from promptkit.budget import estimate_prompt
from promptkit.db.engine import now, sync_url
from promptkit.hooktypes import ChatMessage, Principal
from promptkit.migrate import alembic_config
from promptkit.roles import role_of

MAX_REPLY = 50
REPLY = "hello from the org"


class Provider:
    """A provider plugin: every chat answers REPLY and reports a fixed usage."""

    __name__ = "org_test_provider"

    @hookimpl
    def register_models(self, register: Callable[[Model], None]) -> None:
        register(Model("org-test-model"))

    @hookimpl
    def complete_stream(self, chat: ChatRequest) -> AsyncIterator[str | StreamEnd]:
        async def reply() -> AsyncIterator[str | StreamEnd]:
            yield REPLY
            usage = {"prompt_tokens": 10, "completion_tokens": MAX_REPLY}
            yield StreamEnd(model=chat.model, usage=usage)

        return reply()


@pytest.fixture
async def app(make_app):
    app = make_app(Provider(), rate_limit=None, api_rate_limit=None, max_reply_tokens=MAX_REPLY)
    async with app.test_app():
        yield app


@pytest.fixture
def token(clerk_signing_key: RSAKey) -> Callable[..., dict[str, str]]:
    """Headers of a fresh token: `token("ann", org="org_a", role="admin", version=1)`."""

    def headers(
        user: str, org: str | None = None, role: str | None = None, version: int = 2
    ) -> dict[str, str]:
        minted = mint_session_token(
            clerk_signing_key, user, ttl_seconds=600, org_id=org, org_role=role, version=version
        )
        return {"Authorization": f"Bearer {minted}"}

    return headers


@dataclass
class Tenant:
    """What one tenant (an organization, or the personal user) holds, by who started it."""

    project: str
    prompt: str
    file: str
    conversations: dict[str, str]  # actor -> the conversation they started


async def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, await response.get_data())
    return await response.get_json()


async def upload(client: Any, project_id: str, headers: dict[str, str]) -> Any:
    storage = FileStorage(io.BytesIO(b"notes"), filename="notes.txt", content_type="text/plain")
    return await client.post(
        f"/projects/{project_id}/files", files={"file": storage}, headers=headers
    )


async def chat(client: Any, headers: dict[str, str], conversation: str) -> Any:
    body = {"conversation_id": conversation, "message": "hi"}
    return await client.post("/chat", json=body, headers=headers)


async def build_tenant(client: Any, admin: dict[str, str], starters: dict[str, Any]) -> Tenant:
    project = await ok(await client.post("/projects", json={"name": "P"}, headers=admin), 201)
    prompt = await ok(
        await client.post(
            f"/projects/{project['id']}/prompts",
            json={"name": "system", "content": "be brief", "is_active": True},
            headers=admin,
        ),
        201,
    )
    file = await ok(await upload(client, project["id"], admin), 201)
    conversations = {}
    for actor, headers in starters.items():
        conversation = await ok(
            await client.post(
                f"/projects/{project['id']}/conversations", json={"title": "t"}, headers=headers
            ),
            201,
        )
        response = await chat(client, headers, conversation["id"])
        assert response.status_code == 200
        await response.get_data()
        conversations[actor] = conversation["id"]
    return Tenant(project["id"], prompt["id"], file["id"], conversations)


# Every route that names an object: (name, what it needs, who may, method, path, body).
# `who may`: "read" (admins and members), "admin" (admins; members get 403), "own" (only the
# conversation's starter), "use" (admins and members: conversations of the project).
# Ordered so that what deletes comes last.
ROUTES: list[tuple[str, str, str, str, str, dict[str, Any] | None]] = [
    ("get project", "project", "read", "get", "/projects/{}", None),
    ("list prompts", "project", "read", "get", "/projects/{}/prompts", None),
    ("list files", "project", "read", "get", "/projects/{}/files", None),
    ("list conversations", "project", "use", "get", "/projects/{}/conversations", None),
    ("start conversation", "project", "use", "post", "/projects/{}/conversations", {}),
    ("search project", "project", "use", "get", "/search?q=hello&project_id={}", None),
    ("rename project", "project", "admin", "patch", "/projects/{}", {"name": "renamed"}),
    ("change tools", "project", "admin", "patch", "/projects/{}", {"tools": []}),
    (
        "create prompt",
        "project",
        "admin",
        "post",
        "/projects/{}/prompts",
        {"name": "n", "content": "c"},
    ),
    ("upload file", "project", "admin", "upload", "/projects/{}/files", None),
    ("get prompt", "prompt", "read", "get", "/prompts/{}", None),
    ("list versions", "prompt", "read", "get", "/prompts/{}/versions", None),
    ("get version", "prompt", "read", "get", "/prompts/{}/versions/1", None),
    ("edit prompt", "prompt", "admin", "patch", "/prompts/{}", {"content": "be briefer"}),
    ("activate prompt", "prompt", "admin", "post", "/prompts/{}/activate", None),
    ("restore version", "prompt", "admin", "post", "/prompts/{}/versions/1/restore", None),
    ("get file", "file", "read", "get", "/files/{}", None),
    ("download file", "file", "read", "get", "/files/{}/content", None),
    ("get conversation", "conversation", "own", "get", "/conversations/{}", None),
    ("retitle", "conversation", "own", "patch", "/conversations/{}", {"title": "x"}),
    ("messages", "conversation", "own", "get", "/conversations/{}/messages", None),
    ("chat", "conversation", "own", "chat", "/chat", None),
    ("resume", "conversation", "own", "get", "/chat/{}/stream", None),
    ("stop", "conversation", "own", "post", "/chat/{}/stop", None),
    ("delete conversation", "conversation", "own", "delete", "/conversations/{}", None),
    ("delete file", "file", "admin", "delete", "/files/{}", None),
    ("delete prompt", "prompt", "admin", "delete", "/prompts/{}", None),
    ("delete project", "project", "admin", "delete", "/projects/{}", None),
]
PREFIX = {"project": "prj", "prompt": "pmt", "file": "fil", "conversation": "cnv"}


async def call(client: Any, headers: dict[str, str], route: tuple[Any, ...], oid: str) -> Any:
    _, _, _, method, path, body = route
    if method == "upload":
        return await upload(client, oid, headers)
    if method == "chat":
        return await chat(client, headers, oid)
    url = path.format(oid)
    if body is None:
        return await getattr(client, method)(url, headers=headers)
    return await getattr(client, method)(url, json=body, headers=headers)


class World:
    """Org A and org B (each an admin and a member) and a personal user, with their objects."""

    def __init__(self, client: Any, token: Callable[..., dict[str, str]]) -> None:
        self.client = client
        self.headers = {
            "a_admin": token("user_a_admin", "org_a", "admin"),
            "a_member": token("user_a_member", "org_a", "member"),
            "b_admin": token("user_b_admin", "org_b", "admin"),
            "b_member": token("user_b_member", "org_b", "member"),
            "solo": token("user_solo"),
            # Org A's admin with no active organization: their personal side.
            "a_admin_personal": token("user_a_admin"),
        }
        self.tenant_of = {
            "a_admin": "org_a",
            "a_member": "org_a",
            "b_admin": "org_b",
            "b_member": "org_b",
            "solo": "solo",
            "a_admin_personal": "a_admin_personal",
        }
        self.tenants: dict[str, Tenant] = {}

    async def build(self) -> None:
        h = self.headers
        self.tenants["org_a"] = await build_tenant(
            self.client, h["a_admin"], {"a_admin": h["a_admin"], "a_member": h["a_member"]}
        )
        self.tenants["org_b"] = await build_tenant(
            self.client, h["b_admin"], {"b_admin": h["b_admin"], "b_member": h["b_member"]}
        )
        self.tenants["solo"] = await build_tenant(self.client, h["solo"], {"solo": h["solo"]})
        self.tenants["a_admin_personal"] = await build_tenant(
            self.client, h["a_admin_personal"], {"a_admin_personal": h["a_admin_personal"]}
        )

    def foreign_objects(self, actor: str, kind: str) -> list[str]:
        """Every object of `kind` the actor must not reach: other tenants' ones, and (for
        conversations) the other members' ones in their own organization."""
        mine = self.tenant_of[actor]
        found = []
        for name, tenant in self.tenants.items():
            if kind == "conversation":
                found += [c for who, c in tenant.conversations.items() if who != actor]
            elif name != mine:
                found.append(getattr(tenant, kind))
        return found

    def all_ids(self) -> dict[str, str]:
        """Every object id -> the tenant holding it (conversations: `tenant/starter`)."""
        ids = {}
        for name, tenant in self.tenants.items():
            for kind in ("project", "prompt", "file"):
                ids[getattr(tenant, kind)] = name
            for who, conversation in tenant.conversations.items():
                ids[conversation] = f"{name}/{who}"
        return ids


@pytest.fixture
async def world(client, token) -> World:
    built = World(client, token)
    await built.build()
    return built


async def test_every_actor_on_every_route_gets_404_for_every_foreign_object(client, world):
    """The isolation property, swept whole: every actor, every route, every other tenants' ids."""
    checked = 0
    for actor, headers in world.headers.items():
        for route in ROUTES:
            kind = route[1]
            random_id = f"{PREFIX[kind]}_{secrets.token_urlsafe(16)}"
            missing = await call(client, headers, route, random_id)
            assert missing.status_code == 404, (actor, route[0], missing.status_code)
            missing_body = await missing.get_data()
            for oid in world.foreign_objects(actor, kind):
                response = await call(client, headers, route, oid)
                body = await response.get_data()
                assert response.status_code == 404, (actor, route[0], oid, response.status_code)
                assert body == missing_body, (actor, route[0])
                checked += 1
    assert checked > 400
    # Nothing was changed by any of it: every tenant still holds all it had.
    for name, tenant in world.tenants.items():
        owner = {"org_a": "a_admin", "org_b": "b_admin"}.get(name, name)
        project = await ok(
            await client.get(f"/projects/{tenant.project}", headers=world.headers[owner])
        )
        assert project["name"] == "P"


async def test_lists_and_search_show_only_the_active_tenants_rows(client, world):
    ids = world.all_ids()
    for actor, headers in world.headers.items():
        mine = world.tenant_of[actor]
        seen = []
        projects = (await ok(await client.get("/projects", headers=headers)))["data"]
        assert [p["id"] for p in projects] == [world.tenants[mine].project]
        kind = "organization" if mine.startswith("org_") else "user"
        assert projects[0]["owner"]["kind"] == kind
        for child in ("prompts", "files", "conversations"):
            page = await ok(
                await client.get(f"/projects/{projects[0]['id']}/{child}", headers=headers)
            )
            seen += [row["id"] for row in page["data"]]
        hits = (await ok(await client.get("/search?q=hello", headers=headers)))["data"]
        seen += [hit["conversation"]["id"] for hit in hits]
        assert hits, actor  # the reply said hello
        for oid in seen:
            holder = ids.get(oid)
            if holder is None:
                continue
            assert holder.split("/")[0] == mine, (actor, oid, holder)
            if "/" in holder:  # a conversation: the actor's own only
                assert holder.split("/")[1] == actor, (actor, oid, holder)


@pytest.mark.parametrize("actor", ["a_member", "a_admin"])
async def test_roles_inside_the_organization(client, world, app, actor):
    """Within org A: members read and converse, admins also change; nobody sees another's
    conversation. Stored file bytes are untouched by a member's refused upload."""
    tenant = world.tenants["org_a"]
    headers = world.headers[actor]
    own = {"project": tenant.project, "prompt": tenant.prompt, "file": tenant.file}
    own["conversation"] = tenant.conversations[actor]
    stored_before = sorted(os.listdir(app.settings.data_dir / "files"))
    for route in ROUTES:
        name, kind, who_may, *_ = route
        response = await call(client, headers, route, own[kind])
        body = await response.get_data()
        if who_may == "admin" and actor == "a_member":
            assert response.status_code == 403, (name, response.status_code, body)
            error = (await response.get_json())["error"]
            assert error["code"] == "forbidden" and error["message"]
        else:
            assert response.status_code in (200, 201, 204), (name, response.status_code, body)
    if actor == "a_member":
        assert sorted(os.listdir(app.settings.data_dir / "files")) == stored_before
        # Everything a member was refused is still there, unchanged.
        admin = world.headers["a_admin"]
        project = await ok(await client.get(f"/projects/{tenant.project}", headers=admin))
        assert project["name"] == "P"
        prompt = await ok(await client.get(f"/prompts/{tenant.prompt}", headers=admin))
        assert (prompt["content"], prompt["version"]) == ("be brief", 1)
        await ok(await client.get(f"/files/{tenant.file}", headers=admin))
        # The admin's own conversation survived the member's sweep, and is still theirs alone.
        theirs = tenant.conversations["a_admin"]
        await ok(await client.get(f"/conversations/{theirs}", headers=admin))
    else:
        response = await client.get(f"/projects/{tenant.project}", headers=headers)
        assert response.status_code == 404  # deleted by the sweep's last route


async def test_switching_the_active_organization_switches_the_list(client, token):
    in_a = token("user_dual", "org_a", "admin")
    in_b = token("user_dual", "org_b", "member")
    personal = token("user_dual")
    made = {}
    for name, headers in (("a", in_a), ("personal", personal)):
        made[name] = await ok(
            await client.post("/projects", json={"name": name}, headers=headers), 201
        )
    b_admin = token("user_b_boss", "org_b", "admin")
    made["b"] = await ok(await client.post("/projects", json={"name": "b"}, headers=b_admin), 201)
    assert made["a"]["owner"] == {"kind": "organization", "id": "org_a"}
    assert made["personal"]["owner"] == {"kind": "user", "id": "user_dual"}
    for headers, expected in ((in_a, "a"), (in_b, "b"), (personal, "personal")):
        listed = (await ok(await client.get("/projects", headers=headers)))["data"]
        assert [p["id"] for p in listed] == [made[expected]["id"]]
    # A member of org B sees B's project but may not rename it.
    response = await client.patch(f"/projects/{made['b']['id']}", json={"name": "x"}, headers=in_b)
    assert response.status_code == 403


async def test_a_role_change_or_removal_takes_effect_with_the_next_token(client, token):
    admin = token("user_boss", "org_c", "admin")
    project = await ok(await client.post("/projects", json={"name": "P"}, headers=admin), 201)
    path = f"/projects/{project['id']}"
    as_member = token("user_pat", "org_c", "member")
    assert (await client.patch(path, json={"name": "x"}, headers=as_member)).status_code == 403
    conversation = await ok(
        await client.post(f"{path}/conversations", json={}, headers=as_member), 201
    )
    promoted = token("user_pat", "org_c", "admin")
    assert (await client.patch(path, json={"name": "x"}, headers=promoted)).status_code == 200
    demoted = token("user_pat", "org_c", "member")
    assert (await client.delete(path, headers=demoted)).status_code == 403
    # Removed from the organization: the next token carries no `o`, and every row is gone from
    # their view, their own conversation in it included.
    removed = token("user_pat")
    assert (await client.get(path, headers=removed)).status_code == 404
    gone = await client.get(f"/conversations/{conversation['id']}", headers=removed)
    assert gone.status_code == 404
    # The previous token still works until it expires: Clerk's last 60 s (nothing is cached
    # longer than the token itself).
    assert (await client.get(path, headers=demoted)).status_code == 200


async def test_v1_tokens_carry_the_organization_too(client, token):
    v1_admin = token("user_old", "org_v1", "admin", version=1)
    project = await ok(await client.post("/projects", json={"name": "P"}, headers=v1_admin), 201)
    assert project["owner"] == {"kind": "organization", "id": "org_v1"}
    v2_member = token("user_new", "org_v1", "member")
    path = f"/projects/{project['id']}"
    assert (await client.get(path, headers=v2_member)).status_code == 200
    assert (await client.patch(path, json={"name": "x"}, headers=v2_member)).status_code == 403
    v1_member = token("user_older", "org_v1", "member", version=1)
    assert (await client.patch(path, json={"name": "x"}, headers=v1_member)).status_code == 403
    v1_personal = token("user_old", version=1)
    assert (await client.get(path, headers=v1_personal)).status_code == 404


async def test_tokens_without_an_organization_stay_personal(client, token):
    headers = token("user_plain")
    project = await ok(await client.post("/projects", json={"name": "P"}, headers=headers), 201)
    assert project["owner"] == {"kind": "user", "id": "user_plain"}
    same_id_as_org = token("user_other", "user_plain", "admin")  # an org id equal to a user id
    assert (
        await client.get(f"/projects/{project['id']}", headers=same_id_as_org)
    ).status_code == 404
    assert (await ok(await client.get("/projects", headers=same_id_as_org)))["data"] == []


def test_claims_map_to_principals_for_both_versions():
    base = {"sub": "user_1", "sid": "sess_1"}
    v2 = principal_from(
        {
            **base,
            "v": 2,
            "fea": "o:projects,u:chat,o:billing",
            "o": {"id": "org_1", "slg": "acme", "rol": "admin", "per": "manage,read", "fpm": "3,2"},
        }
    )
    assert (v2.org_id, v2.org_slug, v2.org_role) == ("org_1", "acme", "org:admin")
    assert v2.org_permissions == (
        "org:projects:manage",
        "org:projects:read",
        "org:billing:read",
    )
    v1 = principal_from(
        {
            **base,
            "org_id": "org_1",
            "org_slug": "acme",
            "org_role": "org:member",
            "org_permissions": ["org:projects:read"],
        }
    )
    assert (v1.org_id, v1.org_role, v1.org_permissions) == (
        "org_1",
        "org:member",
        ("org:projects:read",),
    )
    for personal in (principal_from({**base, "v": 2}), principal_from(base)):
        assert (personal.org_id, personal.org_role, personal.org_permissions) == (None, None, ())
    # A role without an organization means nothing.
    assert principal_from({**base, "org_role": "org:admin"}).org_role is None


def test_roles_map_to_admin_and_member_in_one_place():
    defaults = ("org:admin", "admin")

    def role(org_role: str | None, permissions: tuple[str, ...] = (), admins=defaults) -> str:
        return role_of(
            Principal("u", org_id="org_1", org_role=org_role, org_permissions=permissions), admins
        )

    assert role("org:admin") == "admin"
    assert role("org:member") == "member"
    assert role("org:billing") == "member"  # a custom role, not listed
    assert role(None) == "member"
    assert role("org:owner", admins=("owner",)) == "admin"
    assert role("org:admin", admins=("org:owner",)) == "member"
    assert role("org:editor", ("org:projects:manage",), admins=("org:projects:manage",)) == "admin"
    assert role_of(Principal("u"), defaults) == "admin"  # personal projects are one's own


async def test_custom_admin_roles_come_from_the_setting(make_app, token):
    app = make_app(org_admin_roles=("org:owner",))
    async with app.test_app():
        client = app.test_client()
        owner = token("user_owner", "org_custom", "owner")
        project = await ok(await client.post("/projects", json={"name": "P"}, headers=owner), 201)
        path = f"/projects/{project['id']}"
        assert (await client.patch(path, json={"name": "x"}, headers=owner)).status_code == 200
        admin = token("user_admin", "org_custom", "admin")  # not an admin role here
        assert (await client.patch(path, json={"name": "y"}, headers=admin)).status_code == 403


def test_the_admin_roles_setting_is_read_from_the_environment():
    from promptkit.settings import Settings

    assert Settings.from_env({}).org_admin_roles == ("org:admin", "admin")
    environ = {"PROMPTKIT_ORG_ADMIN_ROLES": "org:owner, org:projects:manage"}
    assert Settings.from_env(environ).org_admin_roles == ("org:owner", "org:projects:manage")
    assert (
        Settings.from_env({"PROMPTKIT_ORG_TOKEN_BUDGET": "100/day"}).org_token_budget == "100/day"
    )


# Organization budgets. Each chat (no system prompt, one user message) reserves its worst case
# and settles to the reported 10 + MAX_REPLY tokens.
WORST = estimate_prompt([ChatMessage("user", "hi")]) + MAX_REPLY
USED = 10 + MAX_REPLY


async def org_project(client: Any, headers: dict[str, str]) -> str:
    project = await ok(await client.post("/projects", json={"name": "P"}, headers=headers), 201)
    return str(project["id"])


async def new_chat(client: Any, headers: dict[str, str], project: str) -> Any:
    conversation = await ok(
        await client.post(f"/projects/{project}/conversations", json={}, headers=headers), 201
    )
    response = await chat(client, headers, conversation["id"])
    await response.get_data()
    return response


@pytest.mark.parametrize("redis", [False, True], ids=["in-process", "redis"])
async def test_an_organization_budget_is_shared_by_its_members(make_app, token, redis):
    """Room for exactly two replies of the organization, whoever sends them (each member also
    has room for two of their own). With Redis, two app instances share the budget."""
    run = secrets.token_hex(4)  # Redis outlives the test: keys of this run only
    org = f"org_budget_{run}"
    settings = {
        "org_token_budget": f"{USED + WORST}/day",
        "token_budget": f"{USED + WORST}/day",
        "max_reply_tokens": MAX_REPLY,
        "rate_limit": None,
        **({"redis_url": "redis://127.0.0.1:6379/5"} if redis else {}),
    }
    first, second = make_app(Provider(), **settings), make_app(Provider(), **settings)
    async with first.test_app(), second.test_app():
        one, other = first.test_client(), (second if redis else first).test_client()
        admin, member = token(f"user_x_{run}", org, "admin"), token(f"user_y_{run}", org, "member")
        project = await org_project(one, admin)
        assert (await new_chat(one, admin, project)).status_code == 200
        assert (await new_chat(other, member, project)).status_code == 200
        refused = await new_chat(other, member, project)
        assert refused.status_code == 429
        error = (await refused.get_json())["error"]
        assert error["code"] == "budget_exhausted"
        assert "organization" in error["message"]
        # GET /usage shows each member their own window and the organization's shared one.
        usage = await ok(await other.get("/usage", headers=member))
        assert (usage["used"], usage["limit"]) == (USED, USED + WORST)
        shared = usage["organization"]
        assert (shared["used"], shared["limit"], shared["remaining"]) == (2 * USED, USED + WORST, 0)
        assert shared["window"] == "1 day" and shared["by_model"] == {"org-test-model": 2 * USED}
        # The member's own hold was given back when the organization refused: their personal
        # chat fits their own budget (used once) exactly.
        personal = token(f"user_y_{run}")
        assert (await new_chat(one, personal, await org_project(one, personal))).status_code == 200
        assert (await ok(await one.get("/usage", headers=personal)))["organization"] is None
        # Another organization is not held back.
        elsewhere = token(f"user_z_{run}", f"{org}_other", "admin")
        other_project = await org_project(one, elsewhere)
        assert (await new_chat(one, elsewhere, other_project)).status_code == 200


async def test_the_user_budget_still_holds_inside_an_organization(make_app, token):
    run = secrets.token_hex(4)
    org = f"org_roomy_{run}"
    app = make_app(
        Provider(),
        token_budget=f"{USED + WORST}/day",
        org_token_budget="1000000/day",
        max_reply_tokens=MAX_REPLY,
        rate_limit=None,
    )
    async with app.test_app():
        client = app.test_client()
        admin = token(f"user_a_{run}", org, "admin")
        project = await org_project(client, admin)
        assert (await new_chat(client, admin, project)).status_code == 200
        assert (await new_chat(client, admin, project)).status_code == 200
        refused = await new_chat(client, admin, project)
        assert refused.status_code == 429
        assert "organization" not in (await refused.get_json())["error"]["message"]
        # Another member's budget is their own.
        other = token(f"user_b_{run}", org, "member")
        assert (await new_chat(client, other, project)).status_code == 200


def test_0011_keeps_existing_projects_personal_and_downgrades(clean_database):
    """Projects written before 0011 are their user's; a downgrade drops organizations' ones."""
    from alembic import command

    config = alembic_config(clean_database)
    command.downgrade(config, "0010")
    engine = sa.create_engine(sync_url(clean_database))
    stamp = now()
    insert = sa.text(
        "INSERT INTO projects (id, owner_id, name, created_at, updated_at)"
        " VALUES (:id, 'alice', 'P', :at, :at)"
    )
    try:
        with engine.begin() as connection:
            connection.execute(insert, {"id": "prj_before", "at": stamp})
        command.upgrade(config, "0011")
        with engine.begin() as connection:
            rows = connection.execute(sa.text("SELECT id, owner_kind, owner_id FROM projects"))
            assert [tuple(row) for row in rows] == [("prj_before", "user", "alice")]
            connection.execute(
                sa.text(
                    "INSERT INTO projects (id, owner_kind, owner_id, name, created_at, updated_at)"
                    " VALUES ('prj_org', 'organization', 'org_1', 'P', :at, :at)"
                ),
                {"at": stamp},
            )
        command.downgrade(config, "0010")
        with engine.begin() as connection:
            rows = connection.execute(sa.text("SELECT id, owner_id FROM projects"))
            assert [tuple(row) for row in rows] == [("prj_before", "alice")]
    finally:
        command.upgrade(config, "head")
        engine.dispose()
