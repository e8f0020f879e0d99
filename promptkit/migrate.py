"""Apply Alembic migrations (from the `migrations/` folder, installed as `promptkit_migrations`)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from .db.engine import sync_url

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision, which the readiness check expects the database to be at. Knowing it
# without Alembic keeps Alembic (about 9 MiB) out of every serving worker. Update it with each
# new migration; tests/test_migrations.py checks it against Alembic's own heads.
HEAD = "0010"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("promptkit_migrations")))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(slug)s")
    # A literal % in a URL would be read as interpolation by ConfigParser.
    config.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return config


def _ensure_sqlite_folder(database_url: str) -> None:
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///").split("?")[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def upgrade(database_url: str) -> None:
    """Bring the schema to the newest revision; a no-op when it is there already."""
    from alembic import command

    _ensure_sqlite_folder(database_url)
    command.upgrade(alembic_config(database_url), "head")


def head_revisions() -> set[str]:
    """The newest revisions that `upgrade` brings a database to, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
