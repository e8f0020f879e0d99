"""Every hook is documented where a plugin author looks (a section in docs/plugins.md, a row in
the README's hook table), both showing `host`, never the deprecated `app`, and tested through a
registered plugin (`test_hook_<hook>` in tests/test_plugin_hooks.py), so that a new hook cannot
land undocumented or untested."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from promptkit import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(
    name
    for name, value in vars(hookspecs).items()
    if inspect.isfunction(value) and hasattr(value, "promptkit_spec")
)


def test_the_hooks_are_found():
    assert {"authenticate", "complete_stream", "register_routes"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_in_the_plugin_guide(hook):
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert re.search(rf"^### {hook}$", guide, re.MULTILINE), f"docs/plugins.md: ### {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_row_in_the_readme(hook):
    readme = (ROOT / "README.md").read_text()
    # A row's first cell names the hook with its arguments; one row may name two hooks.
    assert re.search(rf"^\| [^|]*`{hook}\(", readme, re.MULTILINE), f"README.md: {hook}"


def readme_arguments(hook: str) -> list[str]:
    """The arguments that the README's hook table shows for `hook`."""
    readme = (ROOT / "README.md").read_text()
    [shown] = re.findall(rf"^\| [^|]*`{hook}\(([^)]*)\)`", readme, re.MULTILINE)
    return [name.strip() for name in shown.split(",") if name.strip()]


@pytest.mark.parametrize("hook", HOOKS)
def test_the_readme_shows_host_where_the_hook_takes_it_and_never_app(hook):
    takes = inspect.signature(getattr(hookspecs, hook)).parameters
    shown = readme_arguments(hook)
    assert ("host" in shown) == ("host" in takes), f"README.md: {hook}({', '.join(shown)})"
    assert "app" not in shown, f"README.md: {hook} shows the deprecated app"


def test_the_plugin_guide_shows_no_hookimpl_naming_app():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, re.DOTALL)
    assert blocks
    named = [
        f"{function.name}({', '.join(a.arg for a in function.args.args)})"
        for block in blocks
        for function in ast.walk(ast.parse(block))
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        if "app" in [a.arg for a in function.args.args]
    ]
    assert named == [], f"docs/plugins.md: {named} name app; show host"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test_that_calls_it_through_a_plugin(hook):
    tests = (ROOT / "tests" / "test_plugin_hooks.py").read_text()
    assert re.search(rf"^(async )?def test_hook_{hook}\(", tests, re.MULTILINE), (
        f"tests/test_plugin_hooks.py: test_hook_{hook}"
    )
