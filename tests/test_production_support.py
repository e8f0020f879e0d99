"""Real `promptkit serve` processes for the production tests, and the plugin they load.

The servers find `plugin` below through a `promptkit` entry point declared in a throw-away
`.dist-info` directory on their PYTHONPATH: the same discovery as any installed plugin. It
accepts `Bearer test:<user id>` and streams slowly for the model `slow-test`, so that a test
can act while a reply is in flight. (This module holds no tests.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from promptkit import ChatRequest, Host, Model, Principal, StoredFile, StreamEnd, Upload, hookimpl

SLOW_MODEL = "slow-test"
PROVIDER = "production_test"
TESTS_DIR = Path(__file__).resolve().parent


class ServerTestPlugin:
    @hookimpl
    def authenticate(self, request: Any) -> Principal | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return Principal(user_id=token.removeprefix("test:")) if token.startswith("test:") else None

    @hookimpl
    def register_models(self, register: Callable[[Model], None]) -> None:
        register(Model(id=SLOW_MODEL))

    @hookimpl
    def complete_stream(
        self, chat: ChatRequest, host: Host
    ) -> AsyncIterator[str | StreamEnd] | None:
        count = int(host.setting("TEST_TOKEN_COUNT", "5"))
        delay = float(host.setting("TEST_TOKEN_DELAY", "0.05"))
        return _slow_reply(count, delay, prompt_tokens=len(chat.messages))

    @hookimpl
    def store_file(self, upload: Upload) -> StoredFile:
        # Keeps nothing: the tests need an upload to succeed, not the bytes.
        return StoredFile(provider_file_id=f"test-{upload.size_bytes}", provider=PROVIDER)

    @hookimpl
    def delete_stored_file(self, stored: StoredFile) -> bool | None:
        return True if stored.provider == PROVIDER else None


async def _slow_reply(
    count: int, delay: float, prompt_tokens: int
) -> AsyncIterator[str | StreamEnd]:
    for index in range(count):
        await asyncio.sleep(delay)
        yield f"tok{index} "
    yield StreamEnd(
        finish_reason="stop",
        model=SLOW_MODEL,
        usage={"prompt_tokens": prompt_tokens, "completion_tokens": count},
    )


plugin = ServerTestPlugin()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def plugin_path(directory: Path) -> str:
    """A PYTHONPATH on which `plugin` is an installed `promptkit` plugin."""
    dist_info = directory / "promptkit_production_test-0.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: promptkit-production-test\nVersion: 0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[promptkit]\nproduction_test = test_production_support:plugin\n"
    )
    return os.pathsep.join([str(directory), str(TESTS_DIR)])


class Server:
    """One `promptkit serve` process on a free port."""

    def __init__(self, workdir: Path, environ: dict[str, str], workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"server-{self.port}.log"
        env = {
            **os.environ,
            "PYTHONPATH": plugin_path(workdir / "plugins"),
            # Only the test plugin authenticates and answers `slow-test`.
            "PROMPTKIT_DISABLED_PLUGINS": "clerk,openai",
            "PROMPTKIT_MODEL": SLOW_MODEL,
            **environ,
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        command = [
            str(Path(sys.executable).with_name("promptkit")),
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        self.log = self.log_path.open("wb")
        self.sigterm_sent = False
        # A session of its own, so that `kill` reaches its workers too (they would be orphaned).
        self.process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.output()}")

    def sigterm(self) -> None:
        """What a platform sends on a deploy or a scale-down. Sent once: a second one during the
        interpreter's own exit would kill it by the default action."""
        if not self.sigterm_sent:
            self.sigterm_sent = True
            self.process.send_signal(signal.SIGTERM)

    def terminate(self) -> int:
        """SIGTERM (unless sent already); the exit code once the process is gone."""
        if self.process.poll() is None:
            self.sigterm()
        try:
            return self.process.wait(timeout=60)
        finally:
            self.log.close()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the server and every worker it started
        self.process.wait()
        self.log.close()

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")


StartServer = Callable[..., Server]
