"""The Docker image (and any wheel) installs promptkit from the package list in pyproject.toml,
not as the editable install of the tests: a package missing there is missing in production
only (the compose topology's instances once died at start on `promptkit.replies`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_in_the_wheel() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {"promptkit": "promptkit", **setuptools["package-dir"]}
    on_disk = set()
    for package, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            inner = init.parent.relative_to(ROOT / folder).parts
            on_disk.add(".".join((package, *inner)))
    assert on_disk - set(setuptools["packages"]) == set()
