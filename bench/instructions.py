"""Instructions per chat reply, counted by valgrind's callgrind: an A/B measure that noise on a
shared machine does not move.

    python3 bench/instructions.py                             # this checkout
    python3 bench/instructions.py --variant before=../old-copy   # and another copy, side by side
    python3 bench/instructions.py --database sqlite           # on the embedded default
    python3 bench/instructions.py --history 50                # each conversation 50 messages long

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

A `--variant LABEL=PYTHONPATH` runs another copy of the code, as in `run.py`. The console
script and the plugins' entry points are this checkout's; for a copy with other migrations, put
a `promptkit_migrations` link to its `migrations/` on that PYTHONPATH too.

`--history N` gives every conversation N messages before the count (a linear conversation,
stored straight into the database, chained by `parent_id` where the schema has it): the
history a turn reads then weighs as it does in use.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import run
import sqlalchemy as sa

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


def seed_history(database_url: str, conversations: Path, count: int) -> None:
    """Store `count` alternating user and assistant messages in each conversation."""
    url = database_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    engine = sa.create_engine(url)
    try:
        messages = sa.Table("messages", sa.MetaData(), autoload_with=engine)
        owner = sa.Table("conversations", sa.MetaData(), autoload_with=engine)
        linked = "parent_id" in messages.c
        with engine.begin() as connection:
            for conversation in json.loads(conversations.read_text()):
                owner_id = connection.execute(
                    sa.select(owner.c.owner_id).where(owner.c.id == conversation)
                ).scalar_one()
                parent = None
                for index in range(count):
                    message_id = f"msg_seed{index}_{conversation[-12:]}"
                    role = "user" if index % 2 == 0 else "assistant"
                    text = f"{role} message {index}: " + "words of a plausible length " * 8
                    row = {
                        "id": message_id,
                        "conversation_id": conversation,
                        "owner_id": owner_id,
                        "role": role,
                        "content": text,
                        "status": "complete",
                        "parts": [{"type": "text", "text": text}],
                        "created_at": datetime.now(UTC),
                    }
                    if linked:
                        row["parent_id"] = parent
                    connection.execute(sa.insert(messages).values(**row))
                    parent = message_id
    finally:
        engine.dispose()


def callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def instructions(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def measure(
    label: str,
    pythonpath: str | None,
    database: str,
    upstream_url: str,
    workdir: Path,
    history: int = 0,
    postgres_name: str = "promptkit_instructions",
) -> dict[str, float]:
    if database == "sqlite":
        database_url = f"sqlite:///{workdir / f'{label}.sqlite3'}"
    else:
        assert run.recreate_postgres_database(postgres_name)
        database_url = run.POSTGRES_BENCH.replace("promptkit_bench", postgres_name)
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
        if history:
            assert target.conversations is not None
            seed_history(database_url, target.conversations, history)
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
    parser.add_argument("--history", type=int, default=0, metavar="N")
    parser.add_argument("--postgres-name", default="promptkit_instructions")
    args = parser.parse_args()
    run.RESULTS.mkdir(exist_ok=True)
    tools = run.ensure_env("tools")
    workdir = Path(tempfile.mkdtemp(prefix="promptkit-instructions-"))
    upstream, upstream_url = run.start_upstream(tools)
    try:
        targets: list[tuple[str, str | None]] = [("main", None)]
        targets += [(v.partition("=")[0], v.partition("=")[2]) for v in args.variant]
        table = {
            label: measure(
                label,
                path,
                args.database,
                upstream_url,
                workdir,
                args.history,
                args.postgres_name,
            )
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
