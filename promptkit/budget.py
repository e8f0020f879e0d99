"""Per-user token budgets (`PROMPTKIT_TOKEN_BUDGET`, e.g. `200000/day`) that concurrent chats
on any number of instances cannot overspend, and per-organization ones on top
(`PROMPTKIT_ORG_TOKEN_BUDGET`: every chat with an active organization counts against both).

Before the provider is called, a chat reserves its worst case (the prompt's estimated tokens
plus the reply's `max_tokens` cap); when the reply ends it settles to the usage the provider
reported, or to an estimate of what was produced. Reserving checks settled usage plus every
open reservation against the limit in one atomic step: a Lua script in Redis with `REDIS_URL`
(shared by every instance), a plain method call in this process without it (the event loop
runs it without interruption). A reservation carries an expiry: one whose process died is
dropped by the next reserve after it expires.

Windows are fixed and aligned to the epoch: a `/day` budget resets at 00:00 UTC.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from limits import parse

from .attachments import context_chars
from .errors import BudgetExhausted
from .hooktypes import ChatMessage

log = logging.getLogger(__name__)

# A reservation outlives any reply (the OpenAI plugin gives up after 120 s between chunks); a
# process that died holding one frees it after this long.
RESERVATION_SECONDS = 900
STORAGE_TIMEOUT_SECONDS = 2.0  # Redis busy for longer than this counts as down
RETRY_REDIS_SECONDS = 5.0  # after Redis failed, the in-process budget serves this long
KEY_PREFIX = "promptkit:budget:"
ORG_KEY_PREFIX = "promptkit:org-budget:"  # apart from the users' keys, whatever the ids


def estimate_tokens(text: str) -> int:
    """An upper estimate of the tokens in `text`: a token per three bytes of UTF-8. English runs
    about four characters a token, CJK one character (three bytes) a token; an over-estimate
    only reserves more for a while, as the reply settles to what the provider counted."""
    return -(-len(text.encode()) // 3)


def estimate_prompt(messages: Sequence[ChatMessage]) -> int:
    # The chat format's few tokens per message (role, separators) and for the reply's priming;
    # an attachment as the characters it costs the context budget, at three a token.
    return (
        sum(
            estimate_tokens(m.content) + 4 + sum(-(-context_chars(a) // 3) for a in m.attachments)
            for m in messages
        )
        + 3
    )


@dataclass(frozen=True)
class BudgetLimit:
    tokens: int
    seconds: int
    window: str  # "1 day"

    def window_start(self, now: float) -> int:
        return int(now // self.seconds) * self.seconds


def parse_budget(value: str | None, name: str = "PROMPTKIT_TOKEN_BUDGET") -> BudgetLimit | None:
    """`200000/day` -> a limit; empty or `off` -> None. A typo stops start-up, naming it."""
    if not value or value.strip().lower() == "off":
        return None
    try:
        item = parse(value)
    except ValueError as error:
        raise ValueError(f"{name}={value!r} is not a budget like '200000/day'") from error
    granularity = item.GRANULARITY.name
    return BudgetLimit(item.amount, item.get_expiry(), f"{item.multiples} {granularity}")


@dataclass
class Held:
    """What a reserve answers: whether it fitted, and the window's state at that moment."""

    ok: bool
    used: int
    reserved: int


class Ledger(Protocol):
    async def reserve(
        self, key: str, hold_id: str, amount: int, limit: int, expires_at: float, ttl: int
    ) -> Held: ...

    async def settle(self, key: str, hold_id: str, tokens: int, model: str, ttl: int) -> None: ...

    async def read(self, key: str) -> tuple[int, int, dict[str, int]]: ...


@dataclass
class _Window:
    used: int = 0
    by_model: dict[str, int] = field(default_factory=dict)
    holds: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> amount, expiry
    expires_at: float = 0.0


class MemoryLedger:
    """The budget of one process. Each method runs without an `await`, so it is atomic."""

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}

    def _window(self, key: str, ttl: int) -> _Window:
        now = time.time()
        if len(self._windows) > 1024:  # windows that ended go, so memory stays flat
            for old in [k for k, w in self._windows.items() if w.expires_at < now]:
                del self._windows[old]
        window = self._windows.setdefault(key, _Window())
        window.expires_at = max(window.expires_at, now + ttl)
        return window

    async def reserve(
        self, key: str, hold_id: str, amount: int, limit: int, expires_at: float, ttl: int
    ) -> Held:
        window = self._window(key, ttl)
        now = time.time()
        for stale in [h for h, (_, expiry) in window.holds.items() if expiry <= now]:
            del window.holds[stale]
        reserved = sum(held for held, _ in window.holds.values())
        if window.used + reserved + amount > limit:
            return Held(False, window.used, reserved)
        window.holds[hold_id] = (amount, expires_at)
        return Held(True, window.used, reserved + amount)

    async def settle(self, key: str, hold_id: str, tokens: int, model: str, ttl: int) -> None:
        window = self._window(key, ttl)
        window.holds.pop(hold_id, None)
        window.used += tokens
        if tokens:
            window.by_model[model] = window.by_model.get(model, 0) + tokens

    async def read(self, key: str) -> tuple[int, int, dict[str, int]]:
        window = self._windows.get(key) or _Window()
        now = time.time()
        reserved = sum(held for held, expiry in window.holds.values() if expiry > now)
        return window.used, reserved, dict(window.by_model)


# KEYS[1]: the window's hash (used, reserved, r:<hold> amounts, m:<model> tokens);
# KEYS[2]: its holds by expiry. Expired holds are given back first, then the check and the hold.
RESERVE = """
local now = tonumber(ARGV[1])
for _, hold in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  local amount = tonumber(redis.call('HGET', KEYS[1], 'r:' .. hold) or '0')
  redis.call('HINCRBY', KEYS[1], 'reserved', -amount)
  redis.call('HDEL', KEYS[1], 'r:' .. hold)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
local amount = tonumber(ARGV[3])
if used + reserved + amount > tonumber(ARGV[4]) then
  return {0, used, reserved}
end
redis.call('HINCRBY', KEYS[1], 'reserved', amount)
redis.call('HSET', KEYS[1], 'r:' .. ARGV[2], amount)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return {1, used, reserved + amount}
"""

# Giving the hold back and counting the usage in one step: between two steps a concurrent
# reserve would see neither and could overspend.
SETTLE = """
local held = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])
if held then
  redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(held))
  redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
local tokens = tonumber(ARGV[2])
redis.call('HINCRBY', KEYS[1], 'used', tokens)
if tokens > 0 then
  redis.call('HINCRBY', KEYS[1], 'm:' .. ARGV[3], tokens)
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


class RedisLedger:
    def __init__(self, url: str) -> None:
        import coredis
        from coredis.retry import NoRetryPolicy

        self.client: Any = coredis.Redis.from_url(
            url,
            decode_responses=True,
            connect_timeout=STORAGE_TIMEOUT_SECONDS / 2,
            stream_timeout=STORAGE_TIMEOUT_SECONDS / 2,
            retry_policy=NoRetryPolicy(),  # the in-process budget takes over at once instead
        )
        self._reserve: Any = self.client.register_script(RESERVE)
        self._settle: Any = self.client.register_script(SETTLE)

    async def reserve(
        self, key: str, hold_id: str, amount: int, limit: int, expires_at: float, ttl: int
    ) -> Held:
        ok, used, reserved = await self._reserve(
            keys=[key, key + ":holds"],
            args=[time.time(), hold_id, amount, limit, expires_at, ttl],
        )
        return Held(bool(ok), int(used), int(reserved))

    async def settle(self, key: str, hold_id: str, tokens: int, model: str, ttl: int) -> None:
        await self._settle(keys=[key, key + ":holds"], args=[hold_id, tokens, model, ttl])

    async def read(self, key: str) -> tuple[int, int, dict[str, int]]:
        fields: dict[str, str] = await self.client.hgetall(key)
        by_model = {name[2:]: int(v) for name, v in fields.items() if name.startswith("m:")}
        return int(fields.get("used", 0)), int(fields.get("reserved", 0)), by_model


def spent(
    messages: Sequence[ChatMessage], text: str, reported: dict[str, int] | None, produced: bool
) -> tuple[int, dict[str, int] | None]:
    """The tokens a reply settles to, and the usage to store with it: what the provider
    reported, else an estimate of the prompt and of the text produced, marked `estimated`.
    A reply that failed before producing anything settles to nothing."""
    if reported:
        return reported.get("prompt_tokens", 0) + reported.get("completion_tokens", 0), reported
    if not produced:
        return 0, None
    usage = {
        "prompt_tokens": estimate_prompt(messages),
        "completion_tokens": estimate_tokens(text),
        "estimated": True,
    }
    return usage["prompt_tokens"] + usage["completion_tokens"], usage


@dataclass
class Reservation:
    """A chat's hold on the budget, until `settle` says what the reply used."""

    budgets: Budgets
    ledger: Ledger
    key: str
    hold_id: str
    amount: int
    settled: bool = False
    also: Reservation | None = None  # the organization's hold, settled alongside

    async def settle(self, tokens: int, model: str) -> None:
        """Count `tokens` (what the reply used) instead of the hold; once, never raises."""
        if self.settled:
            return
        self.settled = True
        await self.budgets.settle(self, tokens, model)
        if self.also is not None:
            await self.also.settle(tokens, model)


class WindowRow(TypedDict):
    """One budget's window as the API shows it (`schemas.BudgetWindow`, which parses
    `resets_at`)."""

    window: str | None
    limit: int | None
    used: int
    reserved: int
    remaining: int | None
    resets_at: str | None  # RFC 3339, UTC
    by_model: dict[str, int]


class UsageRow(WindowRow):
    """`GET /usage` (`schemas.TokenUsage`): the caller's window, and the organization's."""

    organization: WindowRow | None


class Budgets:
    def __init__(
        self,
        limit: BudgetLimit | None,
        redis_url: str | None,
        org_limit: BudgetLimit | None = None,
    ) -> None:
        self.limit = limit
        self.org_limit = org_limit
        self.memory = MemoryLedger()
        self.redis = RedisLedger(redis_url) if ((limit or org_limit) and redis_url) else None
        self._redis_down_until = 0.0
        longest = max(item.seconds for item in (limit, org_limit) if item) if self.any else 0
        self._ttl = longest + RESERVATION_SECONDS

    @property
    def any(self) -> bool:
        """Whether any budget is set: a user's or an organization's."""
        return self.limit is not None or self.org_limit is not None

    def limited(self, org_id: str | None) -> bool:
        """Whether a chat of a user with this active organization (or None) is budgeted."""
        return self.limit is not None or (org_id is not None and self.org_limit is not None)

    def _key(self, user_id: str, start: int) -> str:
        return f"{KEY_PREFIX}{user_id}:{start}"

    def _org_key(self, org_id: str, start: int) -> str:
        return f"{ORG_KEY_PREFIX}{org_id}:{start}"

    def _unreachable(self, error: BaseException) -> None:
        if self._redis_down_until == 0.0:
            # Once per outage; the error's text may carry the Redis URL and password.
            log.warning(
                "token budget storage unreachable (%s): budgets are kept in this process"
                " until it answers again",
                type(error).__name__,
            )
        self._redis_down_until = time.monotonic() + RETRY_REDIS_SECONDS

    def _use_redis(self) -> bool:
        return self.redis is not None and time.monotonic() >= self._redis_down_until

    async def _call(self, method: str, *args: Any) -> Any:
        """Run `method` on Redis; on failure (or while it is known down) in this process."""
        if self._use_redis():
            assert self.redis is not None
            try:
                async with asyncio.timeout(STORAGE_TIMEOUT_SECONDS):
                    answer = await getattr(self.redis, method)(*args)
            except (OSError, TimeoutError, _redis_errors()) as error:
                self._unreachable(error)
            else:
                if self._redis_down_until:
                    log.warning("token budget storage reachable again")
                    self._redis_down_until = 0.0
                return answer, self.redis
        return await getattr(self.memory, method)(*args), self.memory

    async def reserve(
        self, user_id: str, amount: int, org_id: str | None = None
    ) -> Reservation | None:
        """Hold `amount` tokens of `user_id`'s budget and, with an active organization, of
        `org_id`'s too: both holds or neither. `BudgetExhausted` when they do not fit; None
        when no budget applies."""
        mine = None
        if self.limit is not None:
            key = self._key(user_id, self.limit.window_start(time.time()))
            mine = await self._hold(self.limit, key, amount, "the token budget")
        if org_id is None or self.org_limit is None:
            return mine
        start = self.org_limit.window_start(time.time())
        try:
            ours = await self._hold(
                self.org_limit,
                self._org_key(org_id, start),
                amount,
                "the organization's token budget",
            )
        except BaseException:
            if mine is not None:
                await mine.settle(0, "")  # give the user's hold back: nothing was used
            raise
        if mine is None:
            return ours
        mine.also = ours
        return mine

    async def _hold(self, limit: BudgetLimit, key: str, amount: int, what: str) -> Reservation:
        """One atomic hold on the window `key` of `limit`; `BudgetExhausted` naming `what`."""
        now = time.time()
        start = limit.window_start(now)
        hold_id = secrets.token_hex(8)
        held, ledger = await self._call(
            "reserve", key, hold_id, amount, limit.tokens, now + RESERVATION_SECONDS, self._ttl
        )
        if not held.ok:
            left = max(0, limit.tokens - held.used - held.reserved)
            retry_after = max(1, math.ceil(start + limit.seconds - now))
            raise BudgetExhausted(
                f"{what} is used up: this reply may need {amount} tokens and"
                f" {left} of {limit.tokens} per {limit.window} are left; retry in {retry_after} s",
                retry_after=retry_after,
            )
        return Reservation(self, ledger, key, hold_id, amount)

    async def settle(self, reservation: Reservation, tokens: int, model: str) -> None:
        args = (reservation.key, reservation.hold_id, tokens, model, self._ttl)
        if reservation.ledger is self.memory:
            await self.memory.settle(*args)
            return
        try:
            async with asyncio.timeout(STORAGE_TIMEOUT_SECONDS):
                await reservation.ledger.settle(*args)
        except (OSError, TimeoutError, _redis_errors()) as error:
            # The hold expires in Redis by itself; the usage is counted here meanwhile.
            self._unreachable(error)
            await self.memory.settle(*args)

    async def usage(self, user_id: str, org_id: str | None = None) -> UsageRow:
        """`GET /usage`: the caller's window, used, left, and tokens per model; with an active
        organization that has a budget, the same of the organization's (`organization`)."""
        mine = await self._window(self.limit, lambda start: self._key(user_id, start))
        organization = None
        if org_id is not None and self.org_limit is not None:
            organization = await self._window(
                self.org_limit, lambda start: self._org_key(org_id, start)
            )
        return {**mine, "organization": organization}

    async def _window(self, limit: BudgetLimit | None, key: Callable[[int], str]) -> WindowRow:
        """One budget's current window; `key` names the window that starts at a time."""
        if limit is None:
            return {
                "window": None,
                "limit": None,
                "used": 0,
                "reserved": 0,
                "remaining": None,
                "resets_at": None,
                "by_model": {},
            }
        start = limit.window_start(time.time())
        (used, reserved, by_model), _ = await self._call("read", key(start))
        return {
            "window": limit.window,
            "limit": limit.tokens,
            "used": used,
            "reserved": reserved,
            "remaining": max(0, limit.tokens - used - reserved),
            "resets_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + limit.seconds)),
            "by_model": by_model,
        }

    def close(self) -> None:
        if self.redis is not None:
            self.redis.client.connection_pool.disconnect()


def _redis_errors() -> type[BaseException]:
    import coredis.exceptions

    return coredis.exceptions.RedisError
