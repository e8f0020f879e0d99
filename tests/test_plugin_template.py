"""`promptkit new-plugin`: the package it writes builds, registers through its entry point and
passes its own tests as written, run as its author runs them (pytest in its directory), with
the package installed into a directory of the test's own: nothing is left installed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from promptkit.cli import cli
from promptkit.plugin_template import TemplateError, names, write


def test_a_written_plugin_passes_its_own_tests(tmp_path):
    written = CliRunner().invoke(cli, ["new-plugin", "greeter", "--dir", str(tmp_path)])
    assert written.exit_code == 0, written.output
    package = tmp_path / "promptkit-greeter"
    assert {str(path.relative_to(package)) for path in package.rglob("*") if path.is_file()} == {
        "pyproject.toml",
        "README.md",
        "promptkit_greeter/__init__.py",
        "tests/test_greeter.py",
    }
    # A real build of its pyproject.toml (the entry point comes from there), offline.
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    install += ["--no-build-isolation", "--no-index", "--target", str(site), str(package)]
    built = subprocess.run(install, capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stdout + built.stderr

    environ = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=package,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout

    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from promptkit.cli import main; main()",
            "plugins",
            "--hook",
            "register_routes",
        ],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert '"name": "greeter"' in listed.stdout and "GET /greeter/hello" in listed.stdout


def test_the_written_code_is_lint_clean(tmp_path):
    root = write("lint-me", tmp_path)
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--isolated", "."],
            cwd=root,  # in the package's own directory: promptkit is third-party there
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_names_are_spelled_for_each_file():
    assert names("promptkit-my-greeter") == {
        "name": "my-greeter",
        "snake": "my_greeter",
        "distribution": "promptkit-my-greeter",
        "package": "promptkit_my_greeter",
        "setting": "MY_GREETER_GREETING",
        "title": "My Greeter",
    }


@pytest.mark.parametrize("bad", ["", "Greeter!", "9lives", "a--b", "has space", "x" * 41])
def test_a_name_that_cannot_make_a_package_is_refused(bad, tmp_path):
    with pytest.raises(TemplateError, match="cannot name a plugin"):
        write(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_installed_name_and_an_existing_directory_are_refused(tmp_path):
    refused = CliRunner().invoke(cli, ["new-plugin", "openai", "--dir", str(tmp_path)])
    assert refused.exit_code != 0 and "installed already" in refused.output
    write("greeter", tmp_path)
    (tmp_path / "promptkit-greeter" / "README.md").write_text("mine")
    again = CliRunner().invoke(cli, ["new-plugin", "greeter", "--dir", str(tmp_path)])
    assert again.exit_code != 0 and "exists already" in again.output
    assert (tmp_path / "promptkit-greeter" / "README.md").read_text() == "mine"
