"""Per-user rate limits: one limit for `/chat`, a generous one for the whole API (chats too).

The counting is the `limits` package's moving window. With `REDIS_URL` the counts live in
Redis, where each hit is one atomic script, so every worker and machine shares them; without
it they live in this process.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from quart import Quart, current_app, g, request

from .errors import RateLimited

log = logging.getLogger(__name__)

EXTENSION = "promptkit.ratelimit"
CHAT_LIMIT_ATTRIBUTE = "_promptkit_chat_limit"
# A limiter that does not answer in this long is skipped: it must never stall the API.
STORAGE_TIMEOUT_SECONDS = 1.0

View = TypeVar("View", bound=Callable[..., Any])


def chat_limited(view: View) -> View:
    """Mark a view as a chat: it counts against `PROMPTKIT_RATE_LIMIT` and the API limit."""
    setattr(view, CHAT_LIMIT_ATTRIBUTE, True)
    return view


def parse_limit(value: str | None, variable: str) -> RateLimitItem | None:
    """`20/minute` -> a limit; empty or `off` -> None. A typo stops start-up, naming it."""
    if not value or value.strip().lower() == "off":
        return None
    try:
        return parse(value)
    except ValueError as error:
        raise ValueError(f"{variable}={value!r} is not a rate limit like '20/minute'") from error


def make_storage(redis_url: str | None) -> Storage:
    if not redis_url:
        return MemoryStorage()
    # The `async+` scheme picks the asyncio Redis client of `limits`.
    storage = storage_from_string(
        "async+" + redis_url,
        key_prefix="promptkit",
        connect_timeout=STORAGE_TIMEOUT_SECONDS / 2,
        stream_timeout=STORAGE_TIMEOUT_SECONDS / 2,
    )
    assert isinstance(storage, Storage)
    return storage


class RateLimits:
    def __init__(
        self, storage: Storage, chat: RateLimitItem | None, api: RateLimitItem | None
    ) -> None:
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)
        storage_errors = storage.base_exceptions
        if not isinstance(storage_errors, tuple):
            storage_errors = (storage_errors,)
        self.unreachable: tuple[type[BaseException], ...] = (TimeoutError, *storage_errors)
        self.chat = chat
        self.api = api

    async def hit(self, user_id: str, *, is_chat: bool) -> None:
        """Count one request of `user_id`; raise `RateLimited` when it is over a limit. A chat
        is counted against the chat limit first: one it refuses does not use the API limit."""
        if is_chat:
            await self._hit(self.chat, "chat", user_id)
        await self._hit(self.api, "api", user_id)

    async def _hit(self, limit: RateLimitItem | None, scope: str, user_id: str) -> None:
        if limit is None:
            return
        try:
            async with asyncio.timeout(STORAGE_TIMEOUT_SECONDS):
                if await self.limiter.hit(limit, scope, user_id):
                    return
                stats = await self.limiter.get_window_stats(limit, scope, user_id)
        except self.unreachable as error:
            # Redis is down or silent: serving without a limit beats refusing every request.
            # Only the error's type is logged: its text may carry the Redis URL and password.
            log.warning("rate limit storage unreachable (%s); let through", type(error).__name__)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"too many requests: the limit is {limit}; retry in {retry_after} s",
            retry_after=retry_after,
        )


def init_app(app: Quart) -> None:
    """Count every authenticated request. Register after the authentication step."""
    settings = app.settings  # type: ignore[attr-defined]
    limits = RateLimits(
        make_storage(settings.redis_url),
        chat=parse_limit(settings.rate_limit, "PROMPTKIT_RATE_LIMIT"),
        api=parse_limit(settings.api_rate_limit, "PROMPTKIT_API_RATE_LIMIT"),
    )
    app.extensions[EXTENSION] = limits

    @app.before_request
    async def count_request() -> None:
        principal = g.get("principal")
        if principal is None or request.method == "OPTIONS":
            return  # public route, preflight, or no route at all: nobody to count
        view = current_app.view_functions.get(request.endpoint or "")
        await limits.hit(principal.user_id, is_chat=getattr(view, CHAT_LIMIT_ATTRIBUTE, False))
