"""A real nginx in front of promptkit instances, with the repository's deploy/nginx/proxy.conf.

For the topology tests and the topology benchmark (`bench/run.py`). Needs Debian's `nginx`
(`apt-get install nginx`); no root needed: config, pid file, logs and temporary files live in a
folder of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from pgbouncer import free_port

PROXY_CONF = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "proxy.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")


class Nginx:
    """nginx on a free loopback port, with a config, pid file and logs in a folder of its
    own (no root needed), proxying to the given ports with deploy/nginx/proxy.conf: round
    robin, or to the instance whose index the request's `X-Test-Instance` header names.
    `wrapper` runs it (`taskset -c 1`, for the benchmark)."""

    def __init__(
        self,
        upstream_ports: list[int],
        *,
        wrapper: tuple[str, ...] = (),
        worker_connections: int = 1024,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Readable by the unprivileged user that nginx's workers run as when started by root.
        self.folder = Path(tempfile.mkdtemp(prefix="nginx-"))
        self.folder.chmod(0o755)
        servers = "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;"
            for port in upstream_ports
        )
        # One upstream per instance too, picked by the `X-Test-Instance` header (its index), so
        # that a test can send a request to the instance it wants through this same nginx.
        pinned = "".join(
            f"    upstream promptkit_{index} {{\n        server 127.0.0.1:{port};\n"
            "        keepalive 4;\n        keepalive_timeout 4s;\n    }\n"
            for index, port in enumerate(upstream_ports)
        )
        picks = "".join(f"        {i} promptkit_{i};\n" for i in range(len(upstream_ports)))
        temp = {name: self.folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        (self.folder / "nginx.conf").write_text(f"""\
worker_processes 1;
pid {self.folder}/nginx.pid;
error_log {self.folder}/error.log info;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log {self.folder}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    upstream promptkit {{
{servers}
        keepalive 16;
        keepalive_timeout 4s;
    }}
{pinned}    map $http_x_test_instance $promptkit_upstream {{
        default promptkit;
{picks}    }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://$promptkit_upstream;
            include {PROXY_CONF};
        }}
    }}
}}
""")
        binary = nginx_binary()
        assert binary is not None
        self.process = subprocess.Popen(
            [*wrapper, binary, "-p", str(self.folder), "-c", "nginx.conf", "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.error_log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:  # refused, or nginx's 502 while no instance answers yet
                pass
            time.sleep(0.05)
        raise RuntimeError(f"nginx not ready after {timeout} s:\n{self.error_log()}")

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def errors(self) -> list[str]:
        """The error log's lines at level `error` or worse (the upstream trouble it saw)."""
        levels = ("[error]", "[crit]", "[alert]", "[emerg]")
        lines = self.error_log().splitlines()
        return [line for line in lines if any(level in line for level in levels)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
