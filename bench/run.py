"""Measure promptkit's `/chat` beside the alternatives, in one run on one machine.

    python3 bench/run.py            # the full matrix, about 18 minutes
    python3 bench/run.py --quick    # one repetition, fewer cells: a smoke test

Targets, all fed by the same fake OpenAI upstream (`fake_upstream.py`):
- `upstream`: the fake upstream called directly, the floor;
- `promptkit-sqlite`, `promptkit-postgres`: `promptkit serve` with a JWT from `promptkit token`,
  the user and assistant messages stored, on a fresh SQLite file and on a PostgreSQL database
  `promptkit_bench` that this script creates (never the test database);
- `naive-fastapi`: `naive_relay.py` on uvicorn, the relay a tutorial would give;
- `litellm`: LiteLLM proxy with a master key;
- `lean-quart` (only when named in `--targets`): `lean_relay.py`, the leanest relay on
  promptkit's own libraries, with no auth and no database: the floor of the stack;
- `promptkit-topology`, `promptkit-topology-2` (only when named in `--targets`): the
  production topology (docs/deploy.md): nginx with `deploy/nginx/proxy.conf` in front of one
  or two instances, on `promptkit_bench` through a PgBouncer in transaction mode. Their CPU
  per reply adds up every process of it: the instances, nginx and PgBouncer.

Pinning: the fake upstream, the load generator and this script share core 0 (`taskset -c 0`);
the server under test runs alone on core 1 with one worker. In `promptkit-topology` nginx and
PgBouncer share core 1 with the instance; `promptkit-topology-2`'s second instance runs on
core 0, beside the load generator (a two-core machine has no third core). The third-party
servers and the load tools live in their own virtual environments under `bench/results/envs/`
(git-ignored), which this script creates; promptkit runs from the project's `.venv`
(`make install`).

Every cell runs `--reps` times, repetitions outermost, so a noisy moment on a shared machine
hits every target alike; `report.py` takes the median of the repetitions and writes
`bench/RESULTS.md` and `bench/results.png`. The raw figures go to `bench/results/raw.json`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
ENVS = RESULTS / "envs"

# Each third-party tool in a virtual environment of its own, never in promptkit's dependencies.
REQUIREMENTS = {
    "tools": [
        "aiohttp==3.14.5",
        "fastapi==0.163.2",
        "httptools==0.9.0",
        "matplotlib==3.11.2",
        "openai==3.57.0",
        "orjson==3.13.0",
        "py-spy==0.4.1",
        "uvicorn[standard]==0.54.0",
        "uvloop==0.23.0",
    ],
    "litellm": ["litellm[proxy]==1.108.7"],
}

LOAD_CORE, SERVER_CORE = "0", "1"
MODEL = "gpt-bench"
USER_ID = "user_bench"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_BENCH = "postgresql://postgres@127.0.0.1:5432/promptkit_bench"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- virtual environments ------------------------------------------------------------------


def ensure_env(name: str) -> Path:
    """Create `bench/results/envs/<name>` with its pinned requirements, once."""
    env = ENVS / name
    marker = env / "bench-requirements.txt"
    wanted = "\n".join(REQUIREMENTS[name])
    if marker.exists() and marker.read_text() == wanted:
        return env / "bin"
    log(f"installing {name} into {env.relative_to(REPO)} (once)")
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    subprocess.run(
        [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", *REQUIREMENTS[name]],
        check=True,
    )
    marker.write_text(wanted)
    return env / "bin"


# --- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw.startswith((b"{", b"[")) else raw
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class Server:
    """A process started by this script, pinned to one core, logging to a file."""

    name: str
    command: list[str]
    core: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = BENCH
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        log_file = open(RESULTS / f"{self.name}.log", "wb")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            ["taskset", "-c", self.core, *self.command],
            env={**os.environ, **self.env},
            cwd=self.cwd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_until(self, url: str, ok: tuple[int, ...] = (200,), timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see bench/results/{self.name}.log")
            try:
                if http("GET", url)[0] in ok:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # the group this script started
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# --- targets -------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str
    pid: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    conversations: Path | None = None  # promptkit: a pool of conversation ids
    server: Server | None = None
    idle_rss_kib: int = 0
    crud_url: str | None = None
    # A topology's other processes: measured with `pid`, stopped after `server`, in order.
    extra_pids: list[int] = field(default_factory=list)
    stop_after: list[Any] = field(default_factory=list)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def start_promptkit(
    name: str,
    database_url: str,
    upstream: str,
    workdir: Path,
    pool: int,
    extra_env: dict[str, str] | None = None,
    wrapper: tuple[str, ...] = (),
    start_timeout: float = 90,
    core: str = SERVER_CORE,
) -> Target | None:
    """`wrapper`: a command that runs the server (valgrind, for `instructions.py`)."""
    promptkit = REPO / ".venv" / "bin" / "promptkit"
    env = {
        **(extra_env or {}),
        "DATABASE_URL": database_url,
        "OPENAI_BASE_URL": upstream,
        "OPENAI_API_KEY": "bench-key",
        "PROMPTKIT_MODEL": MODEL,
        "PROMPTKIT_DATA_DIR": str(workdir / "data"),
        # One bench user sends thousands of requests a second: the per-user limits (chats
        # 30/minute and the API 1200/minute by default) would measure 429s.
        "PROMPTKIT_API_RATE_LIMIT": "off",
        "PROMPTKIT_RATE_LIMIT": "off",
        # The fake upstream lists no models (`GET /v1/models`): the model is named instead.
        "PROMPTKIT_OPENAI_MODELS": MODEL,
        "PYTHONUNBUFFERED": "1",
    }
    token = subprocess.run(
        [str(promptkit), "token", USER_ID],
        env={**os.environ, **env},
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    if token.returncode != 0:
        log(f"skipping {name}: `promptkit token` failed: {token.stderr.strip()[-300:]}")
        return None
    headers = {"Authorization": f"Bearer {token.stdout.strip().splitlines()[-1]}"}
    port = free_port()
    server = Server(
        name,
        [*wrapper, str(promptkit), "serve", "--port", str(port)],
        core,
        env=env,
        cwd=workdir,
    ).start()
    base = f"http://127.0.0.1:{port}"
    server.wait_until(f"{base}/health", timeout=start_timeout)
    try:
        conversations = make_conversations(name, base, headers, pool, workdir)
    except BaseException:
        server.stop()
        raise
    return Target(
        name,
        f"{base}/chat",
        server.pid,
        {"message": "Say something."},
        headers,
        conversations,
        server,
        crud_url=f"{base}/projects",
    )


def make_conversations(
    name: str, base: str, headers: dict[str, str], pool: int, workdir: Path
) -> Path:
    """A project with `pool` conversations; the file that lists their ids."""
    status, project = http("POST", f"{base}/projects", {"name": "bench"}, headers)
    if status != 201:
        raise RuntimeError(f"{name}: POST /projects answered {status}: {project!r}")
    ids = []
    for index in range(pool):
        status, conversation = http(
            "POST",
            f"{base}/projects/{project['id']}/conversations",
            {"title": f"bench {index}"},
            headers,
        )
        if status != 201:
            raise RuntimeError(f"{name}: creating a conversation answered {status}")
        ids.append(conversation["id"])
    conversations = workdir / f"{name}-conversations.json"
    conversations.write_text(json.dumps(ids))
    return conversations


def start_topology(name: str, instances: int, upstream: str, workdir: Path, pool: int) -> Target:
    """nginx in front of `instances` promptkit processes, on PostgreSQL through PgBouncer."""
    sys.path.insert(0, str(REPO / "tests"))  # the helpers that the topology tests run
    from nginx import Nginx
    from pgbouncer import PgBouncer

    server_core = ("taskset", "-c", SERVER_CORE)
    pooler = PgBouncer(POSTGRES_BENCH, pool_size=20, wrapper=server_core).start()
    behind: list[Target] = []
    proxy: Nginx | None = None
    try:
        for index, core in enumerate([SERVER_CORE, LOAD_CORE][:instances]):
            instance = start_promptkit(
                f"{name}-{index}",
                pooler.pooled_url(),  # ?pgbouncer=true
                upstream,
                workdir,
                0,
                {"PROMPTKIT_TRUSTED_PROXIES": "127.0.0.1/32"},
                core=core,
            )
            if instance is None:
                raise RuntimeError(f"{name}: instance {index} did not start")
            behind.append(instance)
        ports = [int(target.url.rsplit(":", 1)[1].split("/")[0]) for target in behind]
        proxy = Nginx(ports, wrapper=server_core, worker_connections=4096)
        proxy.wait_ready()
        conversations = make_conversations(name, proxy.url, behind[0].headers, pool, workdir)
    except BaseException:
        for part in [proxy, *(t.server for t in behind), pooler]:
            if part is not None:
                part.stop()
        raise
    return Target(
        name,
        f"{proxy.url}/chat",
        behind[0].pid,
        {"message": "Say something."},
        behind[0].headers,
        conversations,
        behind[0].server,
        crud_url=f"{proxy.url}/projects",
        extra_pids=[proxy.process.pid, pooler.pid, *(t.pid for t in behind[1:])],
        stop_after=[*(t.server for t in behind[1:]), proxy, pooler],
    )


def relay_command(name: str, tools: Path, port: int) -> tuple[list[str], str]:
    """How to start a relay written for the comparison, and the path that answers once it is up."""
    if name == "naive-fastapi":
        return [str(tools / "uvicorn"), "naive_relay:app", "--port", str(port)], "/docs"
    hypercorn = REPO / ".venv" / "bin" / "hypercorn"
    # `--workers 0`: served in this process, not a spawned one, so its CPU and RSS are read.
    return [str(hypercorn), "lean_relay:app", "--worker-class", "uvloop", "--backlog", "2048",
            "--workers", "0", "--bind", f"127.0.0.1:{port}"], "/health"  # fmt: skip


def start_relay(name: str, tools: Path, upstream: str) -> Target:
    """`naive-fastapi` or `lean-quart`: no auth, no database, the upstream's tokens relayed."""
    port = free_port()
    command, ready = relay_command(name, tools, port)
    env = {"OPENAI_BASE_URL": upstream, "OPENAI_API_KEY": "bench-key"}
    server = Server(name, command, SERVER_CORE, env=env).start()
    base = f"http://127.0.0.1:{port}"
    server.wait_until(base + ready)
    return Target(name, f"{base}/chat", server.pid, {"message": "Say something."}, server=server)


def start_litellm(env_bin: Path, upstream: str, workdir: Path) -> Target:
    port, key = free_port(), "sk-" + secrets.token_hex(32)
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {upstream}\n"
        "      api_key: bench-key\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    server = Server(
        "litellm",
        [
            str(env_bin / "litellm"),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        SERVER_CORE,
        # The model price list ships inside the package: no fetch at start.
        env={"LITELLM_MASTER_KEY": key, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        cwd=workdir,
    ).start()
    base = f"http://127.0.0.1:{port}"
    server.wait_until(f"{base}/health/liveliness", timeout=180)
    return Target(
        "litellm",
        f"{base}/v1/chat/completions",
        server.pid,
        {
            "model": MODEL,
            "stream": True,
            "messages": [{"role": "user", "content": "Say something."}],
        },
        {"Authorization": f"Bearer {key}"},
        server=server,
    )


# --- measuring -----------------------------------------------------------------------------


def loadgen(
    tools: Path,
    target: Target,
    mode: str,
    concurrency: int,
    warmup: float,
    duration: float,
    url: str | None = None,
    min_replies: int = 0,
    stagger: float = 0.0,
) -> dict[str, Any]:
    command = [
        "taskset", "-c", LOAD_CORE, str(tools / "python"), str(BENCH / "loadgen.py"),
        url or target.url, "--mode", mode, "--concurrency", str(concurrency),
        "--warmup", str(warmup), "--duration", str(duration), "--pid", str(target.pid),
        "--min-replies", str(min_replies), "--max-wait", "12", "--stagger", str(stagger),
        *(arg for pid in target.extra_pids for arg in ("--pid", str(pid))),
    ]  # fmt: skip
    if mode == "request":
        command += ["--method", "GET"]
    else:
        command += ["--body", json.dumps(target.body)]
        if target.conversations:
            command += ["--conversations", str(target.conversations)]
    command += [
        arg for name, value in target.headers.items() for arg in ("--header", f"{name}: {value}")
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed on {target.name}: {done.stderr[-800:]}")
    return dict(json.loads(done.stdout))


def start_upstream(tools: Path, tokens: int = 64) -> tuple[Server, str]:
    """The fake upstream on the load core, answering; and its base URL (`.../v1`)."""
    port = free_port()
    command = [str(tools / "python"), str(BENCH / "fake_upstream.py"), "--port", str(port)]
    upstream = Server("upstream", [*command, "--tokens", str(tokens)], LOAD_CORE).start()
    try:
        upstream.wait_until(f"http://127.0.0.1:{port}/health")
    except BaseException:
        upstream.stop()
        raise
    return upstream, f"http://127.0.0.1:{port}/v1"


def set_pacing(upstream: str, delay_ms: float, tokens: int) -> None:
    status, _ = http(
        "PUT", f"{upstream.removesuffix('/v1')}/bench/config?delay_ms={delay_ms}&tokens={tokens}"
    )
    assert status == 200


def warm(tools: Path, target: Target) -> None:
    """A few replies first: imports, connection pools and caches are not what we measure."""
    loadgen(tools, target, "stream", 4, 0.0, 1.0)
    time.sleep(0.5)
    target.idle_rss_kib = rss_kib(target.pid)


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        memory_kib = int(handle.readline().split()[1])
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def versions(tools: Path, litellm_bin: Path | None) -> dict[str, str]:
    def version(python: Path, package: str) -> str:
        out = subprocess.run(
            [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
            capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout.strip() or "?"

    found = {
        name: version(REPO / ".venv" / "bin" / "python", name)
        for name in ("promptkit", "quart", "hypercorn", "openai")
    }
    found |= {f"relay {name}": version(tools / "python", name) for name in ("fastapi", "uvicorn")}
    if litellm_bin:
        found["litellm"] = version(litellm_bin / "python", "litellm")
    return found


def recreate_postgres_database(name: str = "promptkit_bench") -> bool:
    psql = shutil.which("psql")
    if not psql:
        log("psql not found: skipping promptkit-postgres")
        return False
    for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
        done = subprocess.run([psql, POSTGRES_ADMIN, "-qc", sql], capture_output=True, text=True)
        if done.returncode != 0:
            log(f"skipping promptkit-postgres: {done.stderr.strip()}")
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repetition, fewer cells")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--targets", default="upstream,promptkit-sqlite,promptkit-postgres,naive-fastapi,litellm"
    )
    parser.add_argument("--concurrency", default="1,32,128,512")
    parser.add_argument("--delays", default="0,20", help="ms between tokens")
    parser.add_argument(
        "--skip",
        default="0:512",
        help="cells DELAY:CONCURRENCY left out (at 0 ms, 512 streams only repeat 128's "
        "saturation and cost minutes on the slow targets); '' for none",
    )
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--duration", type=float, default=2.5, help="seconds measured per cell")
    parser.add_argument("--min-replies", type=int, default=6, help="per cell, at least")
    parser.add_argument("--hold", type=int, default=500, help="streams held open for memory")
    parser.add_argument("--label", default="", help="a note stored with the results")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=PYTHONPATH",
        help="A/B: also run promptkit-DATABASE-LABEL with PYTHONPATH put first (a changed copy)",
    )
    parser.add_argument(
        "--name",
        default="",
        help="write bench/results/NAME.{json,md,png} instead of the committed bench/RESULTS.md",
    )
    args = parser.parse_args()
    # A SIGTERM runs the `finally` below too, so no server is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if args.quick:
        args.reps, args.concurrency, args.hold = 1, "1,32", 100
    wanted = args.targets.split(",")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    delays = [float(d) for d in args.delays.split(",")]
    skipped = set(filter(None, args.skip.split(",")))
    RESULTS.mkdir(exist_ok=True)

    started_on = machine()  # before our own load
    tools = ensure_env("tools")
    litellm_bin = ensure_env("litellm") if "litellm" in wanted else None
    workdir = Path(tempfile.mkdtemp(prefix="promptkit-bench-"))
    upstream, upstream_url = start_upstream(tools, args.tokens)
    targets: list[Target] = []
    pool = max(max(concurrencies), args.hold) + 64
    # Created once: the PostgreSQL targets share it.
    fresh_postgres = functools.cache(recreate_postgres_database)
    try:
        for name in wanted:
            log(f"starting {name}")
            if name == "upstream":
                targets.append(
                    Target(
                        "upstream", f"{upstream_url}/chat/completions", upstream.pid,
                        {"model": MODEL, "stream": True, "stream_options": {"include_usage": True},
                         "messages": [{"role": "user", "content": "Say something."}]},
                    )
                )  # fmt: skip
            elif name in ("promptkit-sqlite", "promptkit-postgres"):
                if name == "promptkit-postgres" and not fresh_postgres():
                    continue
                # Each variant is another copy of the code: on PostgreSQL the same database,
                # on SQLite a file of its own.
                for label, pythonpath in [("", None), *(v.split("=", 1) for v in args.variant)]:
                    suffix = f"-{label}" if label else ""
                    url = POSTGRES_BENCH
                    if name == "promptkit-sqlite":
                        url = f"sqlite:///{workdir / f'promptkit{suffix}.sqlite3'}"
                    env = {"PYTHONPATH": pythonpath} if pythonpath else {}
                    target = start_promptkit(name + suffix, url, upstream_url, workdir, pool, env)
                    targets += [target] if target else []
            elif name in ("promptkit-topology", "promptkit-topology-2"):
                if not fresh_postgres():
                    continue
                instances = 2 if name.endswith("-2") else 1
                targets.append(start_topology(name, instances, upstream_url, workdir, pool))
            elif name in ("naive-fastapi", "lean-quart"):
                targets.append(start_relay(name, tools, upstream_url))
            elif name == "litellm" and litellm_bin:
                targets.append(start_litellm(litellm_bin, upstream_url, workdir))
        for target in targets:
            warm(tools, target)
            log(f"{target.name}: idle RSS {target.idle_rss_kib / 1024:.1f} MiB")

        runs: list[dict[str, Any]] = []
        started = time.monotonic()
        for rep in range(args.reps):
            for delay in delays:
                set_pacing(upstream_url, delay, args.tokens)
                # At least one whole reply of warm-up; loadgen also waits for the first wave.
                warmup = 0.5 + args.tokens * delay / 1000
                for concurrency in concurrencies:
                    if f"{delay:g}:{concurrency}" in skipped:
                        continue
                    for target in targets:
                        result = loadgen(
                            tools,
                            target,
                            "stream",
                            concurrency,
                            warmup,
                            args.duration,
                            min_replies=args.min_replies,
                            stagger=args.tokens * delay / 1000,
                        )
                        result |= {"target": target.name, "rep": rep, "delay_ms": delay,
                                   "concurrency": concurrency}  # fmt: skip
                        runs.append(result)
                        log(
                            f"rep {rep} delay {delay:g} ms c={concurrency} {target.name}: "
                            f"{result['replies_per_s']} replies/s, "
                            f"{result['cpu_ms_per_reply']} CPU-ms/reply, "
                            f"TTFT p50 {result.get('ttft_p50_ms')} ms, "
                            f"kernel {result['system_cpu_share']} of it, "
                            f"waited {result['server_waited_share']}, errors {result['errors']}"
                            + (
                                f", CPU-ms each {each}"
                                if len(each := result.get("cpu_ms_per_reply_each", [])) > 1
                                else ""
                            )
                        )
            log(f"repetition {rep} done after {time.monotonic() - started:.0f} s")

        memory: list[dict[str, Any]] = []
        if args.hold:
            set_pacing(upstream_url, 500, args.tokens)  # 32 s a reply: every stream stays open
            for target in targets:
                if target.name == "upstream":
                    continue
                result = loadgen(tools, target, "hold", args.hold, 0.0, 30.0)
                result |= {"target": target.name, "idle_rss_kib": target.idle_rss_kib}
                memory.append(result)
                log(f"{target.name}: {result}")
                time.sleep(2)  # let the server finish closing the streams

        crud: list[dict[str, Any]] = []
        for target in targets:
            if target.crud_url is None:
                continue
            for rep in range(args.reps):
                result = loadgen(
                    tools, target, "request", 32, 1.0, args.duration, url=target.crud_url
                )
                result |= {"target": target.name, "rep": rep, "route": "GET /projects"}
                crud.append(result)
                log(f"{target.name} GET /projects: {result['replies_per_s']} req/s, "
                    f"{result['cpu_ms_per_reply']} CPU-ms/request")  # fmt: skip

        raw = {
            "label": args.label,
            "machine": started_on,
            "versions": versions(tools, litellm_bin),
            "settings": {"tokens": args.tokens, "duration_s": args.duration, "reps": args.reps,
                         "hold": args.hold, "load_core": LOAD_CORE, "server_core": SERVER_CORE},
            "idle_rss_kib": {t.name: t.idle_rss_kib for t in targets},
            "runs": runs,
            "memory": memory,
            "crud": crud,
        }  # fmt: skip
        raw_path = RESULTS / f"{args.name or 'raw'}.json"
        raw_path.write_text(json.dumps(raw, indent=1))
        log(f"raw figures in {raw_path.relative_to(REPO)}")
    finally:
        for target in targets:
            if target.server:
                target.server.stop()
            for part in target.stop_after:
                for line in getattr(part, "errors", list)()[-5:]:  # nginx's, if any
                    log(f"{target.name}: nginx: {line}")
                part.stop()
        upstream.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out = [str(RESULTS / args.name)] if args.name else []
    subprocess.run([str(tools / "python"), str(BENCH / "report.py"), str(raw_path), *out],
                   check=True)  # fmt: skip


if __name__ == "__main__":
    main()
