"""Turn `bench/results/raw.json` into `bench/RESULTS.md` and `bench/results.png`.

Each figure is the median of the repetitions of its cell; errors are summed. Run by `run.py`
at the end; run it alone to redraw: `python report.py results/raw.json`.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BENCH = Path(__file__).resolve().parent
ORDER = [
    "upstream",
    "promptkit-postgres",
    "promptkit-sqlite",
    "promptkit-topology",
    "promptkit-topology-2",
    "lean-quart",
    "naive-fastapi",
    "litellm",
]
LABELS = {
    "upstream": "upstream called directly",
    "promptkit-postgres": "promptkit /chat, PostgreSQL",
    "promptkit-sqlite": "promptkit /chat, SQLite",
    "promptkit-topology": "promptkit /chat through nginx + PgBouncer (CPU of all three)",
    "promptkit-topology-2": "the same with two instances, one per core",
    "lean-quart": "lean relay on promptkit's stack (no auth, no database)",
    "naive-fastapi": "naive FastAPI + AsyncOpenAI relay",
    "litellm": "LiteLLM proxy",
}


def median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ordered_targets(table: dict[tuple[str, float, int], dict[str, Any]]) -> list[str]:
    """The known targets in a fixed order, then any A/B variants (`run.py --variant`)."""
    present = {key[0] for key in table}
    return [t for t in ORDER if t in present] + sorted(present - set(ORDER))


def aggregate(runs: list[dict[str, Any]]) -> dict[tuple[str, float, int], dict[str, Any]]:
    cells: dict[tuple[str, float, int], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        cells[(run["target"], run["delay_ms"], run["concurrency"])].append(run)
    table = {}
    for key, reps in cells.items():
        table[key] = {
            metric: median([r.get(metric) for r in reps])
            for metric in (
                "replies_per_s", "cpu_ms_per_reply", "server_cpu_share", "server_waited_share",
                "ttft_p50_ms",
                "ttft_p99_ms", "ttft_max_ms", "total_p50_ms", "max_gap_ms", "peak_rss_kib",
            )
        }  # fmt: skip
        table[key]["errors"] = sum(r["errors"] for r in reps)
        table[key]["unfinished"] = sum(r.get("unfinished", 0) for r in reps)
        table[key]["examples"] = sorted({e for r in reps for e in r.get("error_examples", [])})
        # Replies per CPU-second of the server: what one core would give if nothing else ran.
        cpu = table[key]["cpu_ms_per_reply"]
        table[key]["capacity"] = 1000 / cpu if cpu else None
    return table


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def added_ttft(
    table: dict[tuple[str, float, int], dict[str, Any]], target: str, delay: float, key: str
) -> float | None:
    mine = table.get((target, delay, 1), {}).get(key)
    floor = table.get(("upstream", delay, 1), {}).get(key)
    return None if mine is None or floor is None else mine - floor


def write_markdown(raw: dict[str, Any], table: dict[tuple[str, float, int], dict[str, Any]]) -> str:
    targets = ordered_targets(table)
    delays = sorted({k[1] for k in table})
    concurrencies = sorted({k[2] for k in table})
    memory = {m["target"]: m for m in raw["memory"]}
    slow = 20.0 if 20.0 in delays else delays[-1]
    busy_c = 32 if 32 in concurrencies else concurrencies[-1]
    many_c = 128 if 128 in concurrencies else concurrencies[-1]
    machine, settings = raw["machine"], raw["settings"]
    lines = [
        "# promptkit `/chat` beside the alternatives",
        "",
        f"Measured {machine['date']} on {machine['cores']} cores ({machine['cpu']}), "
        f"{machine['memory_gib']} GiB, Linux {machine['kernel']}, shared with other work "
        f"(load average {', '.join(f'{x:.1f}' for x in machine['load_average'])})"
        ". "
        f"{settings['tokens']}-token replies; fake upstream and load generator pinned to core "
        f"{settings['load_core']}, the server under test (one worker) alone on core "
        f"{settings['server_core']}; {settings['duration_s']} s measured per cell after a "
        f"warm-up; medians of {settings['reps']} repetitions. Versions: "
        + ", ".join(f"{k} {v}" for k, v in raw["versions"].items())
        + (f". Note: {raw['label']}" if raw.get("label") else "")
        + ".",
        "",
        "CPU is the server's user + system time from `/proc` over the measured window, divided "
        "by the replies finished in it. *Replies per CPU-second* is 1000 / CPU-ms: what one "
        "free core would give; *replies/s* is what the shared core gave.",
        "",
        f"## Summary (c={busy_c} at 0 ms between tokens; c={many_c} at {slow:g} ms; "
        f"time to first token at c=1, {slow:g} ms)",
        "",
        "| target | CPU-ms per reply | replies/s | replies per CPU-second "
        f"| CPU-ms per reply at {slow:g} ms, c={many_c} | added TTFT p50 / p99 (ms) "
        "| added TTFT p50 / p99 at 0 ms (ms) "
        "| KiB per open stream | idle RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for target in targets:
        fast = table.get((target, 0.0, busy_c), {})
        paced = table.get((target, slow, many_c), {})
        held = memory.get(target, {})
        lines.append(
            f"| {LABELS.get(target, target)} | {fmt(fast.get('cpu_ms_per_reply'), 2)} "
            f"| {fmt(fast.get('replies_per_s'))} | {fmt(fast.get('capacity'), 0)} "
            f"| {fmt(paced.get('cpu_ms_per_reply'), 2)} "
            f"| {fmt(added_ttft(table, target, slow, 'ttft_p50_ms'), 2)} / "
            f"{fmt(added_ttft(table, target, slow, 'ttft_p99_ms'), 2)} "
            f"| {fmt(added_ttft(table, target, 0.0, 'ttft_p50_ms'), 2)} / "
            f"{fmt(added_ttft(table, target, 0.0, 'ttft_p99_ms'), 2)} "
            f"| {fmt(held.get('kib_per_stream'), 0)} "
            f"| {fmt(raw['idle_rss_kib'].get(target, 0) / 1024)} |"
        )
    lines += ["", "## Ratios (the issue's targets)", ""]
    pk, naive, lite = "promptkit-postgres", "naive-fastapi", "litellm"
    cpu = {t: table.get((t, 0.0, busy_c), {}).get("cpu_ms_per_reply") for t in targets}
    rps = {t: table.get((t, 0.0, busy_c), {}).get("replies_per_s") for t in targets}
    paced_cpu = {t: table.get((t, slow, many_c), {}).get("cpu_ms_per_reply") for t in targets}
    lines += [
        f"- promptkit (PostgreSQL) CPU per reply / naive relay's, 0 ms, c={busy_c}: "
        f"**{ratio(cpu.get(pk), cpu.get(naive))}** (goal at most 0.25, stretch 0.15)",
        f"- naive relay's CPU per reply / LiteLLM's, 0 ms, c={busy_c}: "
        f"**{ratio(cpu.get(naive), cpu.get(lite))}** (goal at most 0.07)",
        f"- promptkit (PostgreSQL) CPU per reply / naive relay's, {slow:g} ms, c={many_c}: "
        f"**{ratio(paced_cpu.get(pk), paced_cpu.get(naive))}** (goal at most 0.4)",
        f"- promptkit (PostgreSQL) replies/s / LiteLLM's, c={busy_c}: "
        f"**{ratio(rps.get(pk), rps.get(lite))}** (goal at least 10)",
        "",
        "## Every cell",
        "",
        "| ms between tokens | concurrency | target | replies/s | CPU-ms per reply "
        "| server CPU share (waited for a core) | TTFT p50 / p99 / max (ms) | whole reply p50 (ms) "
        "| longest gap (ms) | errors (cut off at the end) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for delay in delays:
        for concurrency in concurrencies:
            for target in targets:
                cell = table.get((target, delay, concurrency))
                if cell is None:
                    continue
                lines.append(
                    f"| {delay:g} | {concurrency} | {target} | {fmt(cell['replies_per_s'])} "
                    f"| {fmt(cell['cpu_ms_per_reply'], 2)} | {fmt(cell['server_cpu_share'], 2)} "
                    f"({fmt(cell['server_waited_share'], 2)}) "
                    f"| {fmt(cell['ttft_p50_ms'])} / {fmt(cell['ttft_p99_ms'])} / "
                    f"{fmt(cell['ttft_max_ms'])} | {fmt(cell['total_p50_ms'])} "
                    f"| {fmt(cell['max_gap_ms'])} | {cell['errors']} ({cell['unfinished']}) |"
                )
    errors = sorted({(k[0], e) for k, c in table.items() for e in c["examples"]})
    if errors:
        lines += ["", "Error examples:", ""] + [f"- {t}: `{e}`" for t, e in errors[:12]]
    if raw["memory"]:
        lines += [
            "",
            f"## {settings['hold']} streams held open",
            "",
            "| target | opened | errors | RSS before (MiB) | RSS with all open (MiB) "
            "| KiB per open stream |",
            "|---|---|---|---|---|---|",
        ]
        for target in targets:
            held = memory.get(target)
            if held:
                lines.append(
                    f"| {target} | {held['opened']} | {held['errors']} "
                    f"| {fmt(held['rss_before_kib'] / 1024)} | {fmt(held['rss_held_kib'] / 1024)} "
                    f"| {fmt(held['kib_per_stream'], 0)} |"
                )
    if raw["crud"]:
        lines += ["", "## CRUD: `GET /projects`, c=32", "",
                  "| target | requests/s | CPU-ms per request | p50 / p99 (ms) | errors |",
                  "|---|---|---|---|---|"]  # fmt: skip
        by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for run in raw["crud"]:
            by_target[run["target"]].append(run)
        for target, reps in by_target.items():
            lines.append(
                f"| {target} | {fmt(median([r['replies_per_s'] for r in reps]))} "
                f"| {fmt(median([r['cpu_ms_per_reply'] for r in reps]), 2)} "
                f"| {fmt(median([r['total_p50_ms'] for r in reps]))} / "
                f"{fmt(median([r['total_p99_ms'] for r in reps]))} "
                f"| {sum(r['errors'] for r in reps)} |"
            )
    lines += ["", "Reproduce: `python3 bench/run.py` (see docs/performance.md).", ""]
    return "\n".join(lines)


def plot(table: dict[tuple[str, float, int], dict[str, Any]], path: Path) -> None:
    targets = ordered_targets(table)
    delays = sorted({k[1] for k in table})
    figure, axes = plt.subplots(2, len(delays), figsize=(6 * len(delays), 8), squeeze=False)
    for column, delay in enumerate(delays):
        for row, (metric, title) in enumerate(
            [("cpu_ms_per_reply", "server CPU-ms per reply"), ("ttft_p50_ms", "TTFT p50 (ms)")]
        ):
            axis = axes[row][column]
            for target in targets:
                points = sorted(
                    (k[2], cell[metric])
                    for k, cell in table.items()
                    if k[0] == target and k[1] == delay and cell[metric] is not None
                )
                if points:
                    xs, ys = zip(*points, strict=True)
                    axis.plot(xs, ys, marker="o", label=LABELS.get(target, target))
            axis.set_xscale("log", base=2)
            axis.set_xticks(
                sorted({k[2] for k in table}), [str(c) for c in sorted({k[2] for k in table})]
            )
            axis.set_yscale("log")
            axis.set_xlabel("concurrent streams")
            axis.set_title(f"{title}, {delay:g} ms between tokens")
            axis.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def main() -> None:
    """`report.py [RAW.json [OUT-STEM]]`: by default the committed `bench/RESULTS.md` + `.png`."""
    raw_path = Path(sys.argv[1]) if len(sys.argv) > 1 else BENCH / "results" / "raw.json"
    stem = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    markdown = stem.with_suffix(".md") if stem else BENCH / "RESULTS.md"
    picture = stem.with_suffix(".png") if stem else BENCH / "results.png"
    raw = json.loads(raw_path.read_text())
    table = aggregate(raw["runs"])
    markdown.write_text(write_markdown(raw, table))
    plot(table, picture)
    print(f"wrote {markdown} and {picture}", file=sys.stderr)


if __name__ == "__main__":
    main()
