"""The import rules of docs/architecture.md ("What each module may import"), read off the source:
every `import` and `from ... import`, anywhere in a file (in a function, under TYPE_CHECKING),
relative ones resolved."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNEL = ROOT / "promptkit"
# What a plugin must reach only through its hooks' arguments.
KERNEL_INSIDES = ("promptkit.db", "promptkit.app", "promptkit.routes")
# What the data layer must not know about: the web, the plugins, the chat path.
WEB_LAYER = (
    "quart",
    "quart_schema",
    "promptkit.app",
    "promptkit.routes",
    "promptkit.plugins",
    "promptkit.chat",
    "promptkit.replies",
)


def imported(path: Path, package: str) -> set[str]:
    """Every module that `path` (a module of `package`, "" for a top-level script) imports;
    `from a import b` counts as `a` and as `a.b` (b may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def within(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == module or name.startswith(module + ".") for module in modules)


def package_of(path: Path, root: Path) -> str:
    """The package a module file belongs to, named from the directory it is imported from."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1])  # a module and an __init__ alike: the directory they are in


SKIPPED = {".venv", "node_modules", "build", ".git", "__pycache__", ".next"}


def python_files(directory: Path) -> list[Path]:
    found = []
    for parent, subdirectories, files in os.walk(directory):
        subdirectories[:] = [name for name in subdirectories if name not in SKIPPED]
        found.extend(Path(parent) / name for name in files if name.endswith(".py"))
    return sorted(found)


def plugin_modules() -> list[tuple[Path, str]]:
    """The code of every plugin: the built-ins and the examples' packages (not their tests)."""
    found = []
    for path in python_files(ROOT / "plugins"):
        found.append((path, package_of(path, ROOT)))
    for example in sorted((ROOT / "examples").glob("promptkit-*")):
        for package in sorted(example.glob("promptkit_*")):
            for path in python_files(package):
                found.append((path, package_of(path, example)))
    return found


PLUGINS = plugin_modules()


def test_the_plugins_are_found():
    names = {path.relative_to(ROOT).parts[1] for path, _ in PLUGINS}
    assert {"builtin_clerk", "builtin_files", "builtin_openai", "promptkit-anthropic"} <= names


@pytest.mark.parametrize(
    ("path", "package"), PLUGINS, ids=[str(path.relative_to(ROOT)) for path, _ in PLUGINS]
)
def test_a_plugin_never_imports_the_database_the_app_or_the_routes(path, package):
    wrong = sorted(name for name in imported(path, package) if within(name, KERNEL_INSIDES))
    assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}: take it from a hook argument"


def test_only_the_database_package_imports_databases():
    importers = [
        str(path.relative_to(ROOT))
        for path in python_files(ROOT)
        if within_any(imported(path, package_of(path, ROOT)), ("databases",))
        and not path.is_relative_to(KERNEL / "db")
    ]
    assert importers == []


def within_any(names: set[str], modules: tuple[str, ...]) -> bool:
    return any(within(name, modules) for name in names)


@pytest.mark.parametrize("path", python_files(KERNEL / "db"), ids=lambda path: path.name)
def test_the_database_package_knows_nothing_of_the_web_or_the_plugins(path):
    wrong = sorted(
        name for name in imported(path, package_of(path, ROOT)) if within(name, WEB_LAYER)
    )
    assert not wrong, f"promptkit/db/{path.name} imports {wrong}"


# In the chat package only the turn (the lease, the history, the user message) and the recorder
# (the reply) touch the database; the handover, the wire, the history's shaping and the tool
# loop are pure stream work, and the response only reads and writes the stream.
CHAT_WITHOUT_DATABASE = ["history.py", "pump.py", "stream.py", "tool_loop.py", "wire.py"]


@pytest.mark.parametrize("name", CHAT_WITHOUT_DATABASE)
def test_only_the_turn_and_the_recorder_of_a_chat_touch_the_database(name):
    path = KERNEL / "chat" / name
    wrong = sorted(
        found
        for found in imported(path, package_of(path, ROOT))
        if within(found, ("promptkit.db", "databases"))
    )
    assert not wrong, f"promptkit/chat/{name} imports {wrong}"


def test_the_chat_package_is_all_named():
    modules = {path.name for path in (KERNEL / "chat").glob("*.py")}
    assert modules == {"__init__.py", "turn.py", "recorder.py", *CHAT_WITHOUT_DATABASE}


@pytest.mark.parametrize("name", ["hookspecs.py", "hooktypes.py", "testing/__init__.py"])
def test_what_plugins_import_from_the_kernel_stays_clear_of_its_insides(name):
    path = KERNEL / name
    wrong = sorted(
        found for found in imported(path, package_of(path, ROOT)) if within(found, KERNEL_INSIDES)
    )
    assert not wrong, f"promptkit/{name} imports {wrong}"


def test_the_checker_sees_every_kind_of_import(tmp_path):
    """A rule that cannot fail checks nothing: each way of writing an import is caught."""
    package = tmp_path / "promptkit" / "routes"
    package.mkdir(parents=True)
    module = package / "sample.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "import promptkit.app\n"
        "from .. import db\n"
        "from ..plugins import Plugins\n"
        "if TYPE_CHECKING:\n"
        "    from promptkit.routes.files import File\n"
        "def later():\n"
        "    import databases\n"
    )
    names = imported(module, package_of(module, tmp_path))
    assert {"promptkit.app", "promptkit.db", "promptkit.plugins", "databases"} <= names
    assert "promptkit.routes.files" in names
    assert within_any(names, KERNEL_INSIDES)
    assert not within("promptkit.dbx", ("promptkit.db",))


@pytest.mark.parametrize("path", python_files(KERNEL / "routes"), ids=lambda path: path.name)
def test_a_route_module_imports_no_other_route_module(path):
    siblings = {
        f"promptkit.routes.{other.stem}"
        for other in python_files(KERNEL / "routes")
        if other.stem not in ("__init__", path.stem)
    }
    wrong = sorted(siblings & imported(path, package_of(path, ROOT)))
    assert not wrong, f"promptkit/routes/{path.name} imports {wrong}: share a module instead"
