"""`promptkit keygen` and `promptkit token`: offline sign-in with the local key pair."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    cli.add_command(keygen)
    cli.add_command(token)


@click.command()
def keygen() -> None:
    """Create the local signing key pair (if missing) and print its public key PEM."""
    from promptkit.settings import Settings

    from .local import load_or_create_local_key, local_key_path

    settings = Settings.from_env()
    key, created = load_or_create_local_key(settings.data_dir)
    path = local_key_path(settings.data_dir)
    click.echo(f"{'created' if created else 'already present'}: {path}", err=True)
    click.echo(key.as_pem(private=False).decode(), nl=False)


@click.command()
@click.argument("user_id")
@click.option("--ttl", default=3600, show_default=True, type=click.IntRange(min=1), help="Seconds.")
@click.option("--org", "--org-id", "org_id", default=None, help="Active organization id (`o.id`).")
@click.option("--org-slug", default=None, help="Active organization slug (`o.slg`).")
@click.option(
    "--role",
    "--org-role",
    "org_role",
    default=None,
    help="Role in the organization (`o.rol`): admin, member or a custom role; default member.",
)
def token(
    user_id: str, ttl: int, org_id: str | None, org_slug: str | None, org_role: str | None
) -> None:
    """Print a Clerk-shaped (v2) session token for USER_ID, signed by the local key.

    With --org, the token carries that organization as the active one (the `o` claim), as
    Clerk's do when a user picks an organization: `promptkit token user_1 --org org_1 --role
    admin`.
    """
    if org_role is not None and org_id is None:
        raise click.UsageError("--role needs --org: a role is held in an organization")
    if org_id is not None:
        org_role = (org_role or "member").removeprefix("org:")
    from promptkit.settings import Settings

    from .config import ClerkConfig, ConfigError
    from .local import load_or_create_local_key, mint_session_token

    settings = Settings.from_env()
    try:
        local = ClerkConfig.from_environ(settings.environ).uses_local_key
    except ConfigError:
        local = False
    if not local:
        click.echo(
            "warning: CLERK_* settings are present, so the server ignores the local key "
            "and will refuse this token",
            err=True,
        )
    key, _ = load_or_create_local_key(settings.data_dir)
    click.echo(
        mint_session_token(
            key, user_id, ttl_seconds=ttl, org_id=org_id, org_slug=org_slug, org_role=org_role
        )
    )
