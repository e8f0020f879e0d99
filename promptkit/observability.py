"""Request ids and structured logs: every log line is one JSON object with its request id."""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from quart import Quart, Response, g, request

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is honoured only when it is short and plain: it ends up in every log line.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("promptkit_request_id", default=None)

access_log = logging.getLogger("promptkit.access")


def acceptable_request_id(offered: str) -> bool:
    """The whole value must match: `$` alone would let a trailing newline through."""
    return _ACCEPTABLE_ID.fullmatch(offered) is not None


def current_request_id() -> str | None:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Put the request id of the task that logs on the record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` that writes JSON lines to stderr, for every logger."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(levelname)s %(name)s %(process)d %(message)s",
                "timestamp": "time",  # ISO 8601, UTC
                "rename_fields": {
                    "levelname": "level",
                    "name": "logger",
                    "process": "pid",
                },
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["request_id"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        # The OpenAI SDK's HTTP client logs every request at INFO: one more line per chat reply
        # that the access line and the provider's own warnings already cover. DEBUG shows it.
        "loggers": {"httpx2": {"level": level if level.upper() == "DEBUG" else "WARNING"}},
    }


def init_app(app: Quart) -> None:
    """Give each request an id and log one line when its response starts.

    Register before the authentication step, so that refused requests have an id too.
    """

    @app.before_request
    async def assign_request_id() -> None:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = offered if acceptable_request_id(offered) else uuid.uuid4().hex
        _request_id.set(request_id)
        g.request_id = request_id
        g.request_started = time.perf_counter()

    @app.after_request
    async def echo_request_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id is not None:
            response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                # The peer, or the client a trusted proxy forwarded for (see proxies.py).
                "client": request.remote_addr,
                "scheme": request.scheme,
                "status": response.status_code,
                # For a stream this is the time to its first byte, not to its end.
                "duration_ms": None if started is None else round(elapsed_ms(started), 1),
                "user_id": getattr(g.get("principal"), "user_id", None),
            },
        )
        return response


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
