"""Instructions per chat reply, counted by valgrind's callgrind: an A/B measure that noise on a
shared machine does not move.

    python3 bench/instructions.py                             # this checkout
    python3 bench/instructions.py --variant before=../old-copy   # and another copy, side by side
    python3 bench/instructions.py --database sqlite           # on the embedded default

CPU time per reply drifts by 10-20 % between runs here (other work shares the cores), which
hides a step worth 3 %. The count of instructions the server executes for the same requests
does not drift: callgrind counts them, whatever else the machine is doing. It counts user-space
instructions only (no time in the kernel, no cache misses), so it ranks changes to promptkit's
own code; `run.py` stays the measure of time.

Each target is `promptkit serve` (PostgreSQL unless `--database sqlite`) under callgrind, with
instrumentation off while it starts and warms up. For each cell the counters are zeroed, a
fixed number of chats run, and the counts are dumped: instructions per reply = the total / the
chats. The cells: 0 ms between tokens at c=32 (the deltas arrive in bursts) and 20 ms at c=4
(each delta alone; the server runs about 50 times slower under callgrind, so more streams would
queue). Needs valgrind.

A `--variant LABEL=PYTHONPATH` runs another copy of the code, as in `run.py`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import run

CELLS = ((0.0, 32, 96), (20.0, 4, 12))  # ms between tokens, concurrency, replies counted


def chat(target: run.Target, conversation: str) -> None:
    body = json.dumps({"conversation_id": conversation, "message": "Say something."}).encode()
    request = urllib.request.Request(target.url, data=body, method="POST", headers=target.headers)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=600) as response:
        assert response.read().endswith(b"data: [DONE]\n\n")


def chats(target: run.Target, concurrency: int, count: int) -> None:
    assert target.conversations is not None
    pool = json.loads(target.conversations.read_text())
    with ThreadPoolExecutor(concurrency) as workers:
        list(workers.map(chat, [target] * count, [pool[i % len(pool)] for i in range(count)]))


def callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def instructions(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def measure(
    label: str, pythonpath: str | None, database: str, upstream_url: str, workdir: Path
) -> dict[str, float]:
    if database == "sqlite":
        database_url = f"sqlite:///{workdir / f'{label}.sqlite3'}"
    else:
        assert run.recreate_postgres_database("promptkit_instructions")
        database_url = run.POSTGRES_BENCH.replace("promptkit_bench", "promptkit_instructions")
    out = workdir / f"callgrind-{label}"
    wrapper = (
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
    )  # fmt: skip
    env = {"PYTHONPATH": pythonpath} if pythonpath else {}
    run.set_pacing(upstream_url, 0, 64)
    target = run.start_promptkit(
        f"instructions-{label}", database_url, upstream_url, workdir, 128, env, wrapper, 600
    )
    assert target is not None and target.server is not None
    results: dict[str, float] = {}
    try:
        chats(target, 4, 16)  # warm: imports, pools, caches
        for delay, concurrency, replies in CELLS:
            run.set_pacing(upstream_url, delay, 64)
            callgrind(target.pid, "--instr=on")
            time.sleep(1)  # the switch takes effect at valgrind's next scheduling point
            callgrind(target.pid, "--zero")
            chats(target, concurrency, replies)
            before = set(workdir.glob(f"{out.name}*"))
            callgrind(target.pid, "--dump")
            callgrind(target.pid, "--instr=off")
            (dump,) = set(workdir.glob(f"{out.name}*")) - before
            per_reply = instructions(dump) / replies
            results[f"{delay:g} ms, c={concurrency}"] = per_reply
            run.log(f"{label}: {delay:g} ms, c={concurrency}: {per_reply / 1e6:.2f} M per reply")
    finally:
        target.server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=PYTHONPATH")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()
    run.RESULTS.mkdir(exist_ok=True)
    tools = run.ensure_env("tools")
    workdir = Path(tempfile.mkdtemp(prefix="promptkit-instructions-"))
    upstream, upstream_url = run.start_upstream(tools)
    try:
        targets: list[tuple[str, str | None]] = [("main", None)]
        targets += [(v.partition("=")[0], v.partition("=")[2]) for v in args.variant]
        table = {
            label: measure(label, path, args.database, upstream_url, workdir)
            for label, path in targets
        }
    finally:
        upstream.stop()
    cells = list(next(iter(table.values())))
    print("\n| target | " + " | ".join(f"M instructions per reply, {c}" for c in cells) + " |")
    print("|---|" + "---|" * len(cells))
    for label, results in table.items():
        print(f"| {label} | " + " | ".join(f"{results[c] / 1e6:.2f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
