"""The pump between the provider's task and the response: order, idle answers, backpressure."""

from __future__ import annotations

import asyncio

from promptkit import StreamEnd
from promptkit.chat.pump import FINISHED, IDLE, MAX_WAITING, Pump


async def test_items_arrive_in_order_and_a_slow_reader_holds_the_provider_back():
    produced = 0

    async def provider():
        nonlocal produced
        for index in range(3 * MAX_WAITING):
            produced += 1
            yield f"d{index}"
        yield StreamEnd()

    pump = Pump(provider())
    for _ in range(20):
        await asyncio.sleep(0)
    assert produced == MAX_WAITING  # it stopped reading instead of buffering the whole reply

    received: list[object] = []
    while FINISHED not in received:
        received += await pump.next_batch(1.0)
    await pump.closed()
    deltas = [item for item in received if isinstance(item, str)]
    assert deltas == [f"d{index}" for index in range(3 * MAX_WAITING)]
    assert isinstance(received[-2], StreamEnd)


async def test_an_idle_provider_gives_idle_and_loses_nothing():
    release = asyncio.Event()

    async def provider():
        await release.wait()
        yield "late"

    pump = Pump(provider())
    assert await pump.next_batch(0.02) == [IDLE]
    assert await pump.next_batch(0.02) == [IDLE]
    release.set()
    received = await pump.next_batch(1.0)
    if received == ["late"]:
        received += await pump.next_batch(1.0)
    assert received == ["late", FINISHED]


async def test_a_provider_error_is_handed_over_as_an_item():
    async def provider():
        yield "partial"
        raise RuntimeError("upstream broke")

    pump = Pump(provider())
    await asyncio.sleep(0.01)
    batch = await pump.next_batch(1.0)
    assert batch[0] == "partial"
    assert isinstance(batch[1], RuntimeError)
