"""Where does promptkit's CPU go? py-spy samples `promptkit serve` under load and sums the stacks.

    python3 bench/profile.py                       # PostgreSQL, 0 ms between tokens, c=32
    python3 bench/profile.py --database sqlite --delay-ms 20 --concurrency 128

Prints the frames that hold the most samples, inclusive (the function and what it calls) and
self (the function's own code), and keeps py-spy's raw collapsed stacks in
`bench/results/profile-<database>.txt` for a flame graph tool. Same set-up and pinning as
`run.py`; py-spy runs from the bench's tools environment.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import run


def summarise(raw: Path, top: int) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():  # a frame name py-spy could not decode
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [f"{total} samples"]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        lines.append(f"\n--- top {top} {title} ---")
        for frame, count in counter.most_common(top):
            lines.append(f"{100 * count / total:5.1f}%  {frame[:150]}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--route", choices=["chat", "projects"], default="chat")
    # As many conversations as run.py makes, so that histories grow as they do there.
    parser.add_argument("--conversations", type=int, default=576)
    parser.add_argument(
        "--blocking",
        action="store_true",
        help="pause the server for each sample: whole stacks, but the server runs slower",
    )
    args = parser.parse_args()
    run.RESULTS.mkdir(exist_ok=True)
    tools = run.ensure_env("tools")
    workdir = Path(tempfile.mkdtemp(prefix="promptkit-profile-"))
    upstream, upstream_url = run.start_upstream(tools)
    target = None
    try:
        run.set_pacing(upstream_url, args.delay_ms, 64)
        if args.database == "postgres":
            assert run.recreate_postgres_database("promptkit_profile")
            database_url = run.POSTGRES_BENCH.replace("promptkit_bench", "promptkit_profile")
        else:
            database_url = f"sqlite:///{workdir / 'promptkit.sqlite3'}"
        name = f"promptkit-{args.database}"
        target = run.start_promptkit(name, database_url, upstream_url, workdir, args.conversations)
        assert target is not None
        run.warm(tools, target)
        raw = run.RESULTS / f"profile-{args.database}.txt"
        spy = subprocess.Popen(
            [str(tools / "py-spy"), "record", "--format", "raw", "--output", str(raw),
             "--duration", str(int(args.seconds)), "--pid", str(target.pid), "--rate", "250",
             *([] if args.blocking else ["--nonblocking"]), "--gil"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)
        url = target.crud_url if args.route == "projects" else None
        mode = "request" if args.route == "projects" else "stream"
        result = run.loadgen(
            tools, target, mode, args.concurrency, 0.5, args.seconds - 1, url=url,
            stagger=64 * args.delay_ms / 1000,
        )  # fmt: skip
        spy.wait(timeout=60)
        print(
            f"{result['replies_per_s']} replies/s, {result['cpu_ms_per_reply']} CPU-ms per reply, "
            f"TTFT p50 {result.get('ttft_p50_ms')} ms, errors {result['errors']}"
        )
        print(summarise(raw, args.top))
    finally:
        if target is not None and target.server is not None:
            target.server.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
