"""What a token budget costs per reply: one reserve and one settle, in-process and on Redis.

    python3 bench/budget.py                                  # in-process, and Redis on :6379/4
    python3 bench/budget.py --redis redis://host:6379/0 --replies 5000

For each store it runs `--replies` reserve+settle pairs one after another (the latency a reply
waits: two round trips on Redis) and the same number with 32 in flight at once (the throughput
one process gets). It prints the wall time and this process's CPU time per reply; Redis's own
CPU is not in it. Users are spread over 100 ids, so the windows are as a real server has them.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time

from promptkit.budget import Budgets, parse_budget

CONCURRENCY = 32


async def one_reply(budgets: Budgets, user: str) -> None:
    reservation = await budgets.reserve(user, 4200)
    assert reservation is not None
    await reservation.settle(850, "gpt-4.1-mini")


async def measure(budgets: Budgets, replies: int, concurrency: int) -> tuple[float, float]:
    users = [f"bench-{secrets.token_hex(4)}" for _ in range(100)]
    await one_reply(budgets, users[0])  # connect and load the scripts first
    wall, cpu = time.perf_counter(), time.process_time()
    if concurrency == 1:
        for index in range(replies):
            await one_reply(budgets, users[index % len(users)])
    else:
        queue = iter(range(replies))

        async def worker() -> None:
            for index in queue:
                await one_reply(budgets, users[index % len(users)])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / replies * 1e6, cpu / replies * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--replies", type=int, default=3000)
    args = parser.parse_args()
    limit = parse_budget("1000000000/day")
    print("store       in flight   wall us/reply   CPU us/reply")
    for name, url in (("in-process", None), ("redis", args.redis)):
        budgets = Budgets(limit, url)
        for concurrency in (1, CONCURRENCY):
            wall, cpu = await measure(budgets, args.replies, concurrency)
            print(f"{name:<11} {concurrency:>9}   {wall:>13.1f}   {cpu:>12.1f}")
        if url is not None and budgets._redis_down_until:
            print("(Redis was unreachable: the numbers above are in-process)")
        budgets.close()


if __name__ == "__main__":
    asyncio.run(main())
