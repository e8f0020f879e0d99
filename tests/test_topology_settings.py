"""The database settings of the production topology, read from the environment and the URL."""

from __future__ import annotations

import pytest

from promptkit.db.engine import Database, async_url, says_pgbouncer, sync_url
from promptkit.settings import Settings

POOLED = "postgresql://app:s3cret@pooler.internal:6432/app?sslmode=require&pgbouncer=true"


def test_the_url_flag_is_read_and_never_reaches_a_driver() -> None:
    assert says_pgbouncer(POOLED)
    assert not says_pgbouncer(POOLED.replace("pgbouncer=true", "pgbouncer=false"))
    assert not says_pgbouncer("postgresql://app@db/app")
    for url in (async_url(POOLED), sync_url(POOLED)):
        assert "pgbouncer" not in url
        assert "sslmode=require" in url and "s3cret@pooler.internal:6432/app" in url
    assert Database(POOLED).pgbouncer
    assert not Database("postgresql://app@db/app").pgbouncer


def test_a_wrong_url_flag_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="pgbouncer="):
        says_pgbouncer("postgresql://app@db/app?pgbouncer=yes-please")


def test_the_environment_sets_the_pool_and_the_pooler_mode() -> None:
    settings = Settings.from_env(
        {
            "PROMPTKIT_DB_PGBOUNCER": "true",
            "PROMPTKIT_DB_POOL_SIZE": "7",
            "PROMPTKIT_DB_POOL_TIMEOUT": "2.5",
        }
    )
    assert (settings.db_pgbouncer, settings.db_pool_size, settings.db_pool_timeout) == (
        True,
        7,
        2.5,
    )
    defaults = Settings.from_env({})
    assert (defaults.db_pgbouncer, defaults.db_pool_size, defaults.db_pool_timeout) == (
        False,
        20,
        5.0,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROMPTKIT_DB_PGBOUNCER", "maybe"),
        ("PROMPTKIT_DB_POOL_SIZE", "0"),
        ("PROMPTKIT_DB_POOL_SIZE", "ten"),
        ("PROMPTKIT_DB_POOL_TIMEOUT", "-1"),
    ],
)
def test_a_wrong_value_stops_start_up_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})
