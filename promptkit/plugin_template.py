"""`promptkit new-plugin NAME`: a plugin package that installs, registers and passes its test
as written. What it writes is the plugin guide's first page (docs/plugins.md) in files: an
entry point, settings read in `startup`, a route of its own and an observer, and a test on
`promptkit.testing`'s fixtures."""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from string import Template

NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
PREFIX = re.compile(r"^promptkit[-_]")


class TemplateError(ValueError):
    """The name cannot make a plugin, or its directory is taken."""


def names(raw: str) -> dict[str, str]:
    """Every spelling of the plugin's name the files need, from `greeter` or `promptkit-greeter`."""
    name = PREFIX.sub("", raw.strip().lower())
    if not NAME.fullmatch(name) or len(name) > 40:
        raise TemplateError(
            f"{raw!r} cannot name a plugin: use lowercase letters, digits and single hyphens,"
            " starting with a letter (say `greeter`)"
        )
    snake = name.replace("-", "_")
    return {
        "name": name,  # the entry point's name: what PROMPTKIT_DISABLED_PLUGINS takes
        "snake": snake,
        "distribution": f"promptkit-{name}",
        "package": f"promptkit_{snake}",
        "setting": f"{snake.upper()}_GREETING",
        "title": name.replace("-", " ").title(),
    }


def write(raw_name: str, directory: Path, *, taken: Collection[str] = ()) -> Path:
    """Write the package into `directory/promptkit-NAME`; its path. Refuses a name that an
    installed plugin has (`taken`) and a directory that exists."""
    spelled = names(raw_name)
    if spelled["name"] in taken or spelled["snake"] in taken:
        raise TemplateError(f"a plugin named {spelled['name']!r} is installed already")
    root = directory / spelled["distribution"]
    if root.exists():
        raise TemplateError(f"{root} exists already")
    for relative, text in FILES.items():
        path = root / Template(relative).substitute(spelled)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(spelled))
    return root


PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "A promptkit plugin."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["promptkit"]

[project.optional-dependencies]
test = ["promptkit[testing]"]

# The whole registration: promptkit loads every plugin in this group when it starts.
[project.entry-points.promptkit]
$name = "$package"

[tool.setuptools]
packages = ["$package"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
"""

MODULE = '''\
"""The $name plugin for promptkit.

`GET /$name/hello` greets the signed-in user, and the plugin counts the chat messages
that promptkit stores. promptkit's docs/plugins.md describes every hook.
"""

from __future__ import annotations

from typing import Any

from promptkit import Host, context, hookimpl
from quart import Blueprint

blueprint = Blueprint("$snake", __name__, url_prefix="/$name")


@hookimpl
def startup(host: Host) -> None:
    # Settings are read here, named after the plugin; per-app state is kept in `host.state`,
    # never in module globals (tests and workers run several apps in one process).
    greeting = host.setting("$setting", "Hello")
    if not greeting.strip():
        raise ValueError("$setting must not be empty")
    host.state["greeting"] = greeting
    host.state["messages_saved"] = 0


@hookimpl
def register_routes() -> Blueprint:
    return blueprint  # authenticated like promptkit's own routes


@blueprint.get("/hello")
async def hello() -> dict[str, Any]:
    state = context.host().state  # this plugin's own, as its hooks see it
    return {
        "greeting": state["greeting"],
        "user_id": context.principal().user_id,
        "messages_saved": state["messages_saved"],
    }


@hookimpl
def on_message_saved(host: Host) -> None:
    host.state["messages_saved"] += 1
'''

TEST = '''\
"""The $name plugin's tests, on promptkit.testing's fixtures.

They give an app on a fresh SQLite database with every installed plugin (this one too,
once `pip install -e .` registered it), a signed-in user's headers, a test client, and a
fake OpenAI-compatible server for chats. Run them with `pytest`.
"""

import pytest
from promptkit.testing import chat, text_of
from promptkit.testing.fake_openai import Script


@pytest.fixture
def promptkit_environ(promptkit_fake_openai):
    # The app's settings, as environment names: this plugin's own, and chats sent to the fake.
    return {
        "$setting": "Hi",
        "OPENAI_BASE_URL": promptkit_fake_openai.base_url,
        "OPENAI_API_KEY": "sk-test",
        "PROMPTKIT_OPENAI_MODELS": "gpt-4.1-mini",
    }


async def test_hello_greets_the_signed_in_user(promptkit_client, promptkit_token):
    alice = promptkit_token("alice")
    response = await promptkit_client.get("/$name/hello", headers=alice)
    assert response.status_code == 200
    greeted = {"greeting": "Hi", "user_id": "alice", "messages_saved": 0}
    assert await response.get_json() == greeted


async def test_hello_asks_for_a_credential(promptkit_client):
    response = await promptkit_client.get("/$name/hello")
    assert response.status_code == 401


async def test_each_stored_message_is_counted(
    promptkit_client, promptkit_token, promptkit_fake_openai
):
    promptkit_fake_openai.queue(Script(reply="Hello there"))
    alice = promptkit_token("alice")
    parts = await chat(promptkit_client, alice, "Hi", model="gpt-4.1-mini")
    assert text_of(parts) == "Hello there"
    response = await promptkit_client.get("/$name/hello", headers=alice)
    # The question and the reply:
    assert (await response.get_json())["messages_saved"] == 2
'''

README = """\
# $distribution

A promptkit plugin: `GET /$name/hello` greets the signed-in user with `$setting`
(default `Hello`), and the plugin counts the chat messages promptkit stores.

```sh
pip install -e '.[test]'
promptkit plugins --hook register_routes    # lists $name and its routes
pytest
```

Installing the package registers it (the `promptkit` entry point in `pyproject.toml`);
`PROMPTKIT_DISABLED_PLUGINS=$name` turns it off. The hooks, their arguments and how they are
called are in promptkit's docs/plugins.md.
"""

FILES = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "$package/__init__.py": MODULE,
    "tests/test_$snake.py": TEST,
}
