"""The `promptkit` command line: serve, migrate, plugins, and commands that plugins add."""

from __future__ import annotations

import json
import logging

import click

from .plugins import add_plugin_commands, build_plugin_manager, describe_plugins
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
    from hypercorn.run import run

    from . import graceful, metrics, observability

    settings = Settings.from_env()
    _upgrade_in_child_process(settings.database_url)
    config = Config()
    config.application_path = "promptkit.asgi:app"
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.workers = 0 if workers == 1 else workers  # 0: serve in this process, no spawn
    config.backlog = 2048  # the default of 100 stalls connections under many open streams
    config.worker_class = "uvloop"  # libuv's event loop: less CPU per read, write and task
    # Logs are JSON lines; promptkit writes one per request itself, with its request id.
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.logconfig_dict = observability.logging_config(settings.log_level)
    # On SIGTERM: stop accepting, let streams in flight finish for this long, then cut them.
    config.graceful_timeout = settings.graceful_timeout
    metrics.prepare_multiprocess(workers)  # before the workers start
    graceful.prepare_workers(workers)
    click.echo(f"promptkit serving on http://{host}:{port} ({workers} worker(s))", err=True)
    raise SystemExit(run(config))


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
def plugins(hook_name: str | None) -> None:
    """Print the registered plugins and the hooks each implements, as JSON."""
    settings = Settings.from_env()
    rows = describe_plugins(build_plugin_manager(settings.disabled_plugins))
    if hook_name:
        rows = [row for row in rows if hook_name in row["hooks"]]
    click.echo(json.dumps(rows, indent=2))


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
