"""Upload memory: how much a promptkit server grows while it takes a large upload.

    python bench/upload_memory.py              # 200 MB, target: peak RSS growth under 30 MB
    python bench/upload_memory.py --size-mb 50
    python bench/upload_memory.py --store local  # the embedded default's local file store

It starts the fake OpenAI Files API (`tests/fake_openai_files.py`) and a promptkit server
(Hypercorn, SQLite, the built-in files plugin pointed at the fake), each in its own process,
then prints two measurements, read from `/proc/<pid>/status` (Linux):

1. The `openai` SDK alone, one process per call shape of `client.files.create`: a path, and
   a `(name, file object, content type)` tuple. It shows which shape streams from disk.
2. The server: its resident memory after a small warm-up upload, then its peak (`VmHWM`, reset
   through `/proc/<pid>/clear_refs` first) while a client streams the large file to
   `POST /projects/{id}/files` over loopback. The bytes at the fake are checked.

With `--store local` the server has no OpenAI key, so the built-in files plugin keeps the
bytes on disk (`PROMPTKIT_DATA_DIR/files`), and the peak is measured twice: while the file is
uploaded and while it is downloaded again from `GET /files/{id}/content`, whose bytes must
have the upload's sha256.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAKE_KEY = "sk-fake-files-key"  # the fake's key (tests/fake_openai_files.py)
TARGET_MB = 30


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux 4.0+)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


def make_file(path: Path, size_mb: int) -> None:
    block = os.urandom(1024 * 1024)
    with path.open("wb") as out:
        for index in range(size_mb):
            out.write(index.to_bytes(8, "big") + block[8:])


# Part 1: the SDK on its own, in a fresh process per call shape.


def sdk_call(shape: str, path: str, base_url: str) -> None:
    import openai

    async def main() -> None:
        client = openai.AsyncOpenAI(api_key=FAKE_KEY, base_url=base_url)
        before = kib(os.getpid(), "VmRSS")
        started = time.perf_counter()
        if shape == "path":
            created = await client.files.create(file=Path(path), purpose="user_data")
        else:
            with open(path, "rb") as content:  # noqa: ASYNC230  (as the plugin does)
                created = await client.files.create(
                    file=(Path(path).name, content, "application/octet-stream"),
                    purpose="user_data",
                )
        seconds = time.perf_counter() - started
        growth = (kib(os.getpid(), "VmHWM") - before) / 1024
        print(f"{shape:>12}: peak RSS growth {growth:7.1f} MB, {seconds:5.2f} s, {created.bytes} B")
        await client.close()

    asyncio.run(main())


# Part 2: the server.


class BenchAuth:
    """`Authorization: Bearer bench:<user id>`: a stand-in for the Clerk plugin."""

    from promptkit import hookimpl

    @hookimpl
    def authenticate(self, request: Any) -> Any:
        from promptkit import Principal

        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return Principal(user_id=token[6:]) if token.startswith("bench:") else None


def serve(port: int, database_url: str, base_url: str | None) -> None:
    import hypercorn.asyncio
    from hypercorn.config import Config

    from promptkit.app import create_app
    from promptkit.migrate import upgrade
    from promptkit.settings import Settings

    upgrade(database_url)
    environ = {**os.environ, "DATABASE_URL": database_url}
    if base_url:  # the OpenAI Files store; without it, the local one under PROMPTKIT_DATA_DIR
        environ |= {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": base_url}
    app = create_app(Settings.from_env(environ), plugins=[BenchAuth()])
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    asyncio.run(hypercorn.asyncio.serve(app, config))  # type: ignore[arg-type]


async def upload(port: int, path: Path) -> tuple[int, dict[str, Any], float]:
    import aiohttp

    headers = {"Authorization": "Bearer bench:alice"}
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(f"{base}/projects", json={"name": "bench"}) as response:
            project_id = (await response.json())["id"]
        started = time.perf_counter()
        with path.open("rb") as content:
            form = aiohttp.FormData()
            form.add_field("file", content, filename=path.name)  # aiohttp streams it
            async with session.post(f"{base}/projects/{project_id}/files", data=form) as response:
                return response.status, await response.json(), time.perf_counter() - started


async def download(port: int, file_id: str) -> tuple[int, str, float]:
    """GET the file's bytes back, hashing them as they arrive (nothing kept here)."""
    import aiohttp

    digest = hashlib.sha256()
    started = time.perf_counter()
    headers = {"Authorization": "Bearer bench:alice"}
    url = f"http://127.0.0.1:{port}/files/{file_id}/content"
    async with aiohttp.ClientSession(headers=headers) as session, session.get(url) as response:
        async for chunk in response.content.iter_chunked(1 << 20):
            digest.update(chunk)
        return response.status, digest.hexdigest(), time.perf_counter() - started


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as content:
        while chunk := content.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def run_local(size_mb: int) -> int:
    """The local file store: peak growth while uploading, then while downloading."""
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="promptkit-bench-") as scratch:
        big, small = Path(scratch) / "big.bin", Path(scratch) / "small.bin"
        make_file(big, size_mb)
        make_file(small, 1)
        port = free_port()
        environ = {
            **os.environ,
            "TMPDIR": scratch,
            "PROMPTKIT_DISABLED_PLUGINS": "clerk",
            "PROMPTKIT_DATA_DIR": str(Path(scratch) / "data"),
        }
        for name in ("OPENAI_API_KEY", "PROMPTKIT_FILES_API_KEY"):
            environ.pop(name, None)
        command = [python, __file__, "--serve", str(port)]
        server = subprocess.Popen(command, env=environ, cwd=scratch)
        try:
            wait_for_port(port, server)
            status, warm, _ = asyncio.run(upload(port, small))  # warm-up, both ways
            assert status == 201, (status, warm)
            asyncio.run(download(port, warm["id"]))
            before = kib(server.pid, "VmRSS")
            reset_peak(server.pid)
            status, body, up_seconds = asyncio.run(upload(port, big))
            up_growth = (kib(server.pid, "VmHWM") - before) / 1024
            before_down = kib(server.pid, "VmRSS")
            reset_peak(server.pid)
            down_status, digest, down_seconds = asyncio.run(download(port, body["id"]))
            down_growth = (kib(server.pid, "VmHWM") - before_down) / 1024
            same = digest == sha256_of(big)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"promptkit server, local file store, one {size_mb} MB file over loopback:")
    print(f"    baseline: {before / 1024:.1f} MB RSS after a warm-up upload and download")
    print(f"      upload: status {status}, peak growth {up_growth:.1f} MB, {up_seconds:.2f} s")
    print(
        f"    download: status {down_status}, sha256 as uploaded: {same},"
        f" peak growth {down_growth:.1f} MB, {down_seconds:.2f} s (target: under {TARGET_MB} MB)"
    )
    ok = status == 201 and down_status == 200 and same
    return 0 if ok and max(up_growth, down_growth) < TARGET_MB else 1


def run(size_mb: int) -> int:
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="promptkit-bench-") as scratch:
        big, small = Path(scratch) / "big.bin", Path(scratch) / "small.bin"
        make_file(big, size_mb)
        make_file(small, 1)
        fake_port, server_port = free_port(), free_port()
        fake = subprocess.Popen(
            [python, str(ROOT / "tests" / "fake_openai_files.py"), "--port", str(fake_port)],
            stdout=subprocess.DEVNULL,
        )
        base_url = f"http://127.0.0.1:{fake_port}/v1"
        server = None
        try:
            wait_for_port(fake_port, fake)
            print(f"openai SDK alone, {size_mb} MB through files.create:")
            for shape in ("path", "file object"):
                subprocess.run(
                    [python, __file__, "--sdk-shape", shape, "--file", str(big), base_url],
                    check=True,
                )
            server = subprocess.Popen(
                [python, __file__, "--serve", str(server_port), base_url],
                env={**os.environ, "TMPDIR": scratch, "PROMPTKIT_DISABLED_PLUGINS": "clerk"},
                cwd=scratch,
            )
            wait_for_port(server_port, server)
            status, _, _ = asyncio.run(upload(server_port, small))  # warm-up
            assert status == 201, status
            before = kib(server.pid, "VmRSS")
            reset_peak(server.pid)
            status, body, seconds = asyncio.run(upload(server_port, big))
            growth = (kib(server.pid, "VmHWM") - before) / 1024
        finally:
            for process in (server, fake):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=30)
    size_ok = body.get("size_bytes") == size_mb * 1024 * 1024
    print(f"promptkit server, one {size_mb} MB upload over loopback:")
    print(f"      status: {status}, size at the provider as sent: {size_ok}")
    print(f"    baseline: {before / 1024:.1f} MB RSS after a warm-up upload")
    print(f" peak growth: {growth:.1f} MB (target: under {TARGET_MB} MB)")
    print(f"        time: {seconds:.2f} s ({size_mb / seconds:.0f} MB/s end to end)")
    return 0 if status == 201 and size_ok and growth < TARGET_MB else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--store", choices=("openai", "local"), default="openai")
    parser.add_argument("--sdk-shape", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("base_url", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sdk_shape:
        sdk_call(args.sdk_shape, args.file, args.base_url)
    elif args.serve and args.base_url is None:
        serve(args.serve, f"sqlite:///{Path.cwd() / 'bench.sqlite3'}", None)
    elif args.serve:
        serve(args.serve, f"sqlite:///{Path.cwd() / 'bench.sqlite3'}", args.base_url)
    elif args.store == "local":
        sys.exit(run_local(args.size_mb))
    else:
        sys.exit(run(args.size_mb))
