"""The replies' shared state in Redis: one Redis Stream per reply, the stop channel, and a key
that says a client follows a reply from another instance.

- `promptkit:reply:{reply id}` is a Redis Stream of the reply's UI message stream, one entry
  per write of the producing instance (a batch of parts), field `p`; the last entry ends with
  `data: [DONE]`. It is trimmed to `MAXLEN ~`, and expires `ENDED_TTL` seconds after the end
  (`LIVE_TTL` while streaming, so that a producer that dies leaves nothing behind for long).
  A reader replays it with XRANGE and follows it with XREAD BLOCK from the last id it saw:
  every entry exactly once, from any instance.
- `promptkit:replies:stop` is a pub/sub channel; a message is the id of a reply to stop, and
  the instance that streams it does.
- `promptkit:reply:{reply id}:seen` exists while a client on another instance follows the
  reply (refreshed as it reads): the producer's grace period counts those clients too.

The client is coredis, which `limits[async-redis]` already brings (see docs/resume.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import coredis
from coredis.response.types import StreamEntry
from coredis.tokens import PureToken

log = logging.getLogger(__name__)

PREFIX = "promptkit:reply:"
STOP_CHANNEL = "promptkit:replies:stop"
FIELD = "p"
MAXLEN = 20_000  # entries: one per write, itself a batch of parts
LIVE_TTL = 24 * 3600  # a stream whose producer never ended it
ENDED_TTL = 300  # clients still reading a finished reply have this long
BLOCK_SECONDS = 5.0  # one XREAD BLOCK; then the reader looks whether the reply still runs
TIMEOUT_SECONDS = 2.0  # any other command
RETRY_SECONDS = 1.0  # between attempts to resubscribe to the stop channel


# Redis unreachable, failing or too slow: what the callers catch and log (by type only: the
# text of an error may carry the Redis URL with its password).
REDIS_ERRORS: tuple[type[Exception], ...] = (TimeoutError, coredis.exceptions.RedisError, OSError)


def stream_key(reply_id: str) -> str:
    return PREFIX + reply_id


class RedisLog:
    def __init__(self, url: str) -> None:
        self._redis: coredis.Redis[bytes] = coredis.Redis.from_url(
            url,
            connect_timeout=TIMEOUT_SECONDS,
            # A blocked XREAD holds its connection this long at most.
            stream_timeout=BLOCK_SECONDS + TIMEOUT_SECONDS,
            max_connections=256,
        )

    async def append(self, reply_id: str, chunk: bytes, *, first: bool, last: bool) -> None:
        """One write of the producer; the first sets the stream's expiry, the last shortens it."""
        key = stream_key(reply_id)
        async with asyncio.timeout(TIMEOUT_SECONDS):
            if not (first or last):
                await _xadd(self._redis, key, chunk)
                return
            pipeline = await self._redis.pipeline(transaction=False)
            _xadd(pipeline, key, chunk)
            pipeline.expire(key, ENDED_TTL if last else LIVE_TTL)
            await pipeline.execute()

    async def ended(self, reply_id: str) -> None:
        """Let the stream of a reply that ended without its last part expire soon."""
        async with asyncio.timeout(TIMEOUT_SECONDS):
            await self._redis.expire(stream_key(reply_id), ENDED_TTL)

    async def replay(self, reply_id: str) -> list[bytes]:
        """Every entry written so far."""
        async with asyncio.timeout(TIMEOUT_SECONDS):
            entries = await self._redis.xrange(stream_key(reply_id))
        return [_chunk(entry) for entry in entries]

    async def follow(self, reply_id: str) -> AsyncIterator[bytes | None]:
        """The entries from the first on, then live; None after `BLOCK_SECONDS` without one
        (the caller decides whether to go on). Ends after the entry that ends the reply."""
        key = stream_key(reply_id)
        async with asyncio.timeout(TIMEOUT_SECONDS):
            entries = await self._redis.xrange(key)
        last_id: bytes | str = "0-0"
        while True:
            for entry in entries:
                last_id = entry.identifier
                chunk = _chunk(entry)
                yield chunk
                if chunk.endswith(b"data: [DONE]\n\n"):
                    return
            found = await self._redis.xread(
                {key: last_id}, count=1000, block=int(BLOCK_SECONDS * 1000)
            )
            entries = tuple(found.get(key.encode(), ())) if found else ()
            if not entries:
                yield None

    async def mark_followed(self, reply_id: str, seconds: float) -> None:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            await self._redis.set(stream_key(reply_id) + ":seen", b"1", ex=max(1, int(seconds)))

    async def followed(self, reply_id: str) -> bool:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            return bool(await self._redis.exists([stream_key(reply_id) + ":seen"]))

    async def ask_to_stop(self, reply_id: str) -> int:
        """Tell every instance to stop the reply; how many instances listen."""
        async with asyncio.timeout(TIMEOUT_SECONDS):
            return await self._redis.publish(STOP_CHANNEL, reply_id)

    async def listen_for_stops(self, stop: Callable[[str], Awaitable[None] | None]) -> None:
        """Call `stop(reply id)` for every stop asked by any instance; runs until cancelled,
        subscribing again after a lost connection."""
        while True:
            try:
                async with self._redis.pubsub(
                    channels=[STOP_CHANNEL], ignore_subscribe_messages=True
                ) as subscription:
                    async for message in subscription:
                        data = message["data"]
                        if isinstance(data, bytes):
                            result = stop(data.decode())
                            if result is not None:
                                await result
            except asyncio.CancelledError:
                raise
            except Exception as error:  # only the type: the text may carry the Redis URL
                log.warning("the stop channel failed (%s); subscribing again", type(error).__name__)
            await asyncio.sleep(RETRY_SECONDS)


def _xadd(
    client: coredis.Redis[bytes] | coredis.pipeline.Pipeline[bytes], key: str, chunk: bytes
) -> Awaitable[object]:
    # MAXLEN ~ N: Redis trims whole macro nodes only, which costs next to nothing.
    entry: dict[str | bytes, str | bytes | int | float] = {FIELD: chunk}
    return client.xadd(
        key,
        entry,
        trim_strategy=PureToken.MAXLEN,
        threshold=MAXLEN,
        trim_operator=PureToken.APPROXIMATELY,
    )


def _chunk(entry: StreamEntry) -> bytes:
    value = entry.field_values[FIELD.encode()]
    return value if isinstance(value, bytes) else value.encode()
