"""Tenant isolation as a property: users doing random operations never see each other's rows,
and every cross-user access answers exactly like a random id."""

from __future__ import annotations

import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

USERS = ("ann", "ben", "cat")
KINDS = ("project", "prompt", "conversation")

operation = st.tuples(
    st.sampled_from(USERS),  # who acts
    st.sampled_from(
        ("create_project", "create_prompt", "create_conversation", "touch_own", "touch_other")
    ),
    st.sampled_from(KINDS),
    st.integers(min_value=0, max_value=50),  # which object
    st.sampled_from(("get", "patch", "delete", "activate", "list_children")),
)

PATHS = {"project": "/projects/{}", "prompt": "/prompts/{}", "conversation": "/conversations/{}"}
PATCHES = {"project": {"name": "x"}, "prompt": {"content": "x"}, "conversation": {"title": "x"}}
PREFIX = {"project": "prj", "prompt": "pmt", "conversation": "cnv"}


class World:
    def __init__(self, client, auth, run):
        self.client, self.run = client, run
        self.headers = {user: auth(f"{run}-{user}") for user in USERS}
        self.owner: dict[str, str] = {}  # object id -> user
        self.kind: dict[str, str] = {}
        self.parent: dict[str, str] = {}  # prompt or conversation id -> project id

    def objects(self, kind, owned_by=None, not_owned_by=None):
        return [
            oid
            for oid, k in self.kind.items()
            if k == kind
            and (owned_by is None or self.owner[oid] == owned_by)
            and (not_owned_by is None or self.owner[oid] != not_owned_by)
        ]

    def check_no_foreign_ids(self, user, body):
        foreign = {oid for oid, owner in self.owner.items() if owner != user}
        text = str(body)
        leaked = [oid for oid in foreign if oid in text]
        assert not leaked, f"{user} saw {leaked}"

    async def request(self, user, method, path, **kwargs):
        response = await getattr(self.client, method)(path, headers=self.headers[user], **kwargs)
        assert response.status_code < 500, (method, path, response.status_code)
        body = await response.get_data(as_text=True)
        self.check_no_foreign_ids(user, body)
        return response, body

    async def create(self, user, kind, pick):
        projects = self.objects("project", owned_by=user)
        if kind == "project" or not projects:
            response, _ = await self.request(user, "post", "/projects", json={"name": "p"})
            new, kind, parent = await response.get_json(), "project", None
        else:
            project_id = projects[pick % len(projects)]
            parent = project_id
            child = {"prompt": "prompts", "conversation": "conversations"}[kind]
            body = (
                {"name": "n", "content": "c", "is_active": pick % 2 == 0}
                if kind == "prompt"
                else {}
            )
            response, _ = await self.request(
                user, "post", f"/projects/{project_id}/{child}", json=body
            )
            new = await response.get_json()
        assert response.status_code == 201
        self.owner[new["id"]], self.kind[new["id"]] = user, kind
        if parent:
            self.parent[new["id"]] = parent

    async def touch(self, user, kind, pick, action, own):
        candidates = self.objects(kind, **({"owned_by": user} if own else {"not_owned_by": user}))
        if not candidates:
            return
        oid = candidates[pick % len(candidates)]
        response, body = await self.act(user, kind, oid, action)
        if own:
            assert response.status_code in (200, 204), (action, kind, response.status_code)
            if action == "delete":
                self.forget(oid)
            return
        # Another user's object: the same 404, byte for byte, as an id that never existed.
        assert response.status_code == 404
        random_id = f"{PREFIX[kind]}_{secrets.token_urlsafe(16)}"
        random_response, random_body = await self.act(user, kind, random_id, action)
        assert random_response.status_code == 404
        assert body == random_body
        assert dict(response.headers).keys() == dict(random_response.headers).keys()

    async def act(self, user, kind, oid, action):
        path = PATHS[kind].format(oid)
        if action == "patch":
            return await self.request(user, "patch", path, json=PATCHES[kind])
        if action == "delete":
            return await self.request(user, "delete", path)
        if action == "activate" and kind == "prompt":
            return await self.request(user, "post", path + "/activate")
        if action == "list_children" and kind != "prompt":
            child = "prompts" if kind == "project" else "messages"
            return await self.request(user, "get", f"{path}/{child}")
        return await self.request(user, "get", path)

    def forget(self, oid):
        """A deleted project takes its prompts and conversations with it."""
        doomed = {oid} | {child for child, parent in self.parent.items() if parent == oid}
        for gone in doomed:
            self.owner.pop(gone, None)
            self.kind.pop(gone, None)
            self.parent.pop(gone, None)

    async def list_everything(self, user):
        response, _ = await self.request(user, "get", "/projects?limit=100")
        for project in (await response.get_json())["data"]:
            for child in ("prompts", "conversations"):
                await self.request(user, "get", f"/projects/{project['id']}/{child}?limit=100")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=5, max_size=25))
async def test_users_never_see_each_others_rows(client, auth, operations):
    world = World(client, auth, run=secrets.token_hex(4))
    for user, op, kind, pick, action in operations:
        if op.startswith("create"):
            await world.create(user, op.removeprefix("create_"), pick)
        elif op == "touch_own":
            await world.touch(user, kind, pick, action, own=True)
        else:
            await world.touch(user, kind, pick, action, own=False)
    for user in USERS:
        await world.list_everything(user)
