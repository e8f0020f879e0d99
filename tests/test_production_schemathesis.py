"""A property-based run of schemathesis against a real server's `/openapi.json`.

Every operation gets a bounded number of generated requests with a valid token: none may
answer 5xx, and no answer may break the schema that the API publishes for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from test_production_support import Server

EXAMPLES_PER_OPERATION = 15
HEADERS = {"Authorization": f"Bearer test:schemathesis-{secrets.token_hex(6)}"}


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(
        tmp_path_factory.mktemp("schemathesis"),
        {"DATABASE_URL": database_url, "PROMPTKIT_API_RATE_LIMIT": "off"},
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()


def seed(base_url: str) -> dict[str, str]:
    """Real objects of the test user, so generated requests reach more than a 404."""
    with httpx.Client(base_url=base_url, headers=HEADERS, timeout=30) as client:
        project = client.post("/projects", json={"name": "seed"}).json()["id"]
        prompt = client.post(
            f"/projects/{project}/prompts", json={"name": "seed", "content": "be brief"}
        ).json()["id"]
        conversation = client.post(f"/projects/{project}/conversations", json={}).json()["id"]
    return {"project_id": project, "prompt_id": prompt, "conversation_id": conversation}


def aim_at(case: Any, ids: dict[str, str]) -> None:
    """Swap generated ids for real ones, in the path and in a JSON body."""
    if case.path_parameters:
        for name in case.path_parameters:
            if name in ids:
                case.path_parameters[name] = ids[name]
    if isinstance(case.body, dict) and "conversation_id" in case.body:
        case.body["conversation_id"] = ids["conversation_id"]


def checker(operation: Any, ids: dict[str, str]) -> Any:
    """A hypothesis test of one operation. (Driven directly: schemathesis' own pytest
    plugin does not run on the pytest this project uses.)"""

    @given(case=operation.as_strategy(), real_ids=st.booleans())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same cases on every run, so a failure can be replayed
        database=None,
    )
    def check(case: Any, real_ids: bool) -> None:
        if real_ids:
            aim_at(case, ids)
        case.call_and_validate(
            headers=HEADERS, checks=[not_a_server_error, response_schema_conformance]
        )

    return check


def test_no_5xx_and_every_answer_matches_its_schema(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10
    failures = []
    for operation in operations:
        try:
            checker(operation, seed(server.url))()
        except Exception as error:  # collect them all: one report names every bad operation
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert not failures, "\n\n".join(failures)
