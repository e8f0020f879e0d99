"""The `promptkit` command line: serve, migrate, plugins, and commands that plugins add."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import click

from .plugins import (
    add_plugin_commands,
    build_plugin_manager,
    describe_call_order,
    describe_plugins,
    installed_names,
)
from .settings import Settings


@click.group()
def cli() -> None:
    """promptkit: the backend for prompt-driven chat apps."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
def serve(host: str, port: int, workers: int) -> None:
    """Apply pending migrations, then serve the API with hypercorn."""
    from hypercorn.config import Config

    from . import graceful, metrics, observability, serving

    settings = Settings.from_env()
    _upgrade_in_child_process(settings.database_url)
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.workers = workers
    config.backlog = 2048  # the default of 100 stalls connections under many open streams
    # (`serving` runs hypercorn on uvloop, libuv's event loop: less CPU per read, write and task.)
    # Logs are JSON lines; promptkit writes one per request itself, with its request id.
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.logconfig_dict = observability.logging_config(settings.log_level)
    # On SIGTERM: stop accepting and let streams in flight finish for the grace period; then
    # the app tells those still running to stop, and hypercorn cuts what is left after that.
    config.graceful_timeout = settings.graceful_timeout + graceful.CLEANUP_SECONDS
    metrics.prepare_multiprocess(workers)  # before the workers start
    if workers > 1 and settings.resumable and not settings.redis_url:
        # Each worker would see only its own replies: a resume or a stop that reaches another
        # worker would find nothing. The workers read the environment again, so this reaches them.
        click.echo(
            "PROMPTKIT_RESUMABLE needs REDIS_URL with several workers: resume is off", err=True
        )
        os.environ["PROMPTKIT_RESUMABLE"] = "off"
    click.echo(f"promptkit serving on http://{host}:{port} ({workers} worker(s))", err=True)
    raise SystemExit(serving.run(config, workers))


def _upgrade_in_child_process(database_url: str) -> None:
    """Migrate in a process of its own: Alembic and the synchronous driver it migrates with
    (about 15 MiB) then never load into the serving process."""
    import multiprocessing

    from .migrate import upgrade

    child = multiprocessing.get_context("spawn").Process(target=upgrade, args=(database_url,))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise click.ClickException("migrating the database failed (the error is above)")


@cli.command()
def migrate() -> None:
    """Apply pending migrations and exit."""
    from .migrate import upgrade

    upgrade(Settings.from_env().database_url)
    click.echo("database schema is up to date", err=True)


@cli.command()
@click.option("--hook", "hook_name", default=None, help="Only plugins that implement this hook.")
@click.option("--order", is_flag=True, help="Each hook's plugins in the order they are asked.")
def plugins(hook_name: str | None, order: bool) -> None:
    """Print the registered plugins and the hooks each implements, as JSON."""
    settings = Settings.from_env()
    pm = build_plugin_manager(settings.disabled_plugins)
    if order:
        calls = describe_call_order(pm)
        shown: object = {hook_name: calls.get(hook_name, [])} if hook_name else calls
    else:
        rows = describe_plugins(pm, settings)
        shown = [row for row in rows if hook_name in row["hooks"]] if hook_name else rows
    click.echo(json.dumps(shown, indent=2))


@cli.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the package's directory.",
)
def new_plugin(name: str, directory: Path) -> None:
    """Write a plugin package (entry point, a hookimpl, a test, a README) named NAME."""
    from .plugin_template import TemplateError, write

    try:
        root = write(name, directory, taken=installed_names())
    except TemplateError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"wrote {root}: `pip install -e '{root}[test]'`, then `pytest` in it", err=True)


@cli.command()
def models() -> None:
    """Print the registered models, whether each is allowed and which is the default, as JSON."""
    import asyncio

    from .app import create_app
    from .models import describe_registry

    rows = asyncio.run(describe_registry(create_app(Settings.from_env())))
    click.echo(json.dumps(rows, indent=2))


def main() -> None:
    settings = Settings.from_env()
    add_plugin_commands(build_plugin_manager(settings.disabled_plugins), cli)
    cli()
