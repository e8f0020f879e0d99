"""`promptkit keygen` and `promptkit token`: the offline flow a newcomer follows, end to end."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from joserfc import jwt
from joserfc.jwk import RSAKey

from promptkit.app import create_app
from promptkit.cli import cli
from promptkit.plugins import add_plugin_commands, build_plugin_manager
from promptkit.settings import Settings


@pytest.fixture
def promptkit_cli() -> click.Group:
    add_plugin_commands(build_plugin_manager(), cli)  # as `promptkit` does before it runs
    return cli


def run(promptkit_cli: click.Group, data_dir, *args: str, **environ: str) -> tuple[str, str]:
    runner = CliRunner()
    env = {
        "PROMPTKIT_DATA_DIR": str(data_dir),
        "CLERK_JWT_KEY": "",
        "CLERK_JWKS_URL": "",
        **environ,
    }
    result = runner.invoke(promptkit_cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


async def test_a_minted_token_opens_the_api_on_the_local_key(promptkit_cli, settings):
    public_pem, note = run(promptkit_cli, settings.data_dir, "keygen")
    assert "created" in note
    assert RSAKey.import_key(public_pem).as_dict()["kty"] == "RSA"
    again, note = run(promptkit_cli, settings.data_dir, "keygen")
    assert "already present" in note and again == public_pem

    token, _ = run(
        promptkit_cli,
        settings.data_dir,
        "token",
        "user_alice",
        "--org-id",
        "org_1",
        "--org-role",
        "admin",
    )
    app = create_app(Settings(**{**settings.__dict__, "environ": {}}))  # no CLERK_* at all
    async with app.test_app():
        client = app.test_client()
        response = await client.get(
            "/projects", headers={"Authorization": f"Bearer {token.strip()}"}
        )
        assert response.status_code == 200
        principal = await app.plugins.host("clerk").state["clerk"].verifier.verify(token.strip())
    assert (principal.user_id, principal.org_id, principal.org_role) == (
        "user_alice",
        "org_1",
        "org:admin",
    )


def test_token_creates_the_key_pair_when_missing(promptkit_cli, tmp_path):
    token, _ = run(promptkit_cli, tmp_path, "token", "bob")
    assert token.count(".") == 2
    assert (tmp_path / "clerk" / "local-signing-key.pem").exists()


def test_token_warns_when_the_server_would_ignore_the_local_key(promptkit_cli, tmp_path):
    _, warning = run(promptkit_cli, tmp_path, "token", "bob", CLERK_JWKS_URL="https://x.test/jwks")
    assert "refuse this token" in warning


async def test_token_mints_an_organization_token_with_the_v2_claim(promptkit_cli, settings):
    token, _ = run(
        promptkit_cli, settings.data_dir, "token", "user_ann", "--org", "org_9", "--role", "admin"
    )
    member, _ = run(promptkit_cli, settings.data_dir, "token", "user_ben", "--org", "org_9")
    app = create_app(Settings(**{**settings.__dict__, "environ": {}}))  # the local key
    async with app.test_app():
        client = app.test_client()
        bearer = {"Authorization": f"Bearer {token.strip()}"}
        created = await client.post("/projects", json={"name": "Team"}, headers=bearer)
        assert created.status_code == 201
        project = await created.get_json()
        assert project["owner"] == {"kind": "organization", "id": "org_9"}
        path = f"/projects/{project['id']}"
        as_member = {"Authorization": f"Bearer {member.strip()}"}
        assert (await client.get(path, headers=as_member)).status_code == 200  # role: member
        assert (await client.delete(path, headers=as_member)).status_code == 403
    claims = jwt.decode(
        token.strip(),
        RSAKey.import_key((settings.data_dir / "clerk" / "local-signing-key.pem").read_bytes()),
    ).claims
    assert claims["v"] == 2 and claims["o"] == {"id": "org_9", "rol": "admin"}


def test_token_refuses_a_role_without_an_organization(promptkit_cli, tmp_path):
    result = CliRunner().invoke(
        promptkit_cli,
        ["token", "bob", "--role", "admin"],
        env={"PROMPTKIT_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 2 and "--role needs --org" in result.output
