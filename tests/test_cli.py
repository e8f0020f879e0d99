"""The command line starts without the SDKs: `--help` and `token` load every plugin, so a
plugin's heavy imports belong in its hooks, not at its top (timed in the closing figures, checked
here by what is imported, which does not depend on the machine's load)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("aiohttp", "openai", "quart", "hypercorn", "sqlalchemy", "databases", "anthropic")

PROBE = """
import json, sys
from promptkit.cli import main
sys.argv = ["promptkit", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["token", "alice"]])
def test_the_command_line_starts_without_the_sdks(argv, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no .env of the checkout
        env={"PATH": "", "PROMPTKIT_DATA_DIR": str(tmp_path / "data")},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)
    assert done.stdout  # the help text, or the token
