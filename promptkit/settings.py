"""Configuration, read once from the environment (and a `.env` file in the working directory)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from dotenv import load_dotenv

N = TypeVar("N", int, float)

DEFAULT_MODEL = "gpt-4.1-mini"
DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def masked_url(url: str | None) -> str | None:
    """The URL with its password replaced by `***`: safe for a repr, a log line or an error."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:  # unparseable: show nothing of it rather than a secret
        return "***"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def is_loopback_host(host: str | None) -> bool:
    """Whether a URL's host is this machine: the one place a secret may go over plain http."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _number(environ: dict[str, str], name: str, default: N, kind: Callable[[str], N]) -> N:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive number, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be a positive number, not {raw!r}")
    return value


_URL_FIELDS = frozenset({"database_url", "redis_url"})
_TOKEN_FIELDS = frozenset({"metrics_token"})


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///promptkit.sqlite3"
    data_dir: Path = Path(".promptkit")
    default_model: str = DEFAULT_MODEL
    disabled_plugins: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    rate_limit: str | None = None
    # Every other authenticated route; generous, it only stops runaway clients. "off" disables.
    api_rate_limit: str | None = "1200/minute"
    redis_url: str | None = None
    # `/metrics` answers only a bearer of this token; unset, the route does not exist.
    metrics_token: str | None = None
    # Seconds that streams in flight get to finish after SIGTERM before they are cut.
    graceful_timeout: float = 20.0
    log_level: str = "INFO"
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_json_bytes: int = 1024 * 1024
    # `POST /chat` bodies: useChat sends the whole history with every message.
    max_chat_bytes: int = 16 * 1024 * 1024
    context_budget_chars: int = 48_000
    # The tools any project may enable (PROMPTKIT_TOOLS); None: every registered tool.
    tools: tuple[str, ...] | None = None
    max_tool_steps: int = 8  # model calls in one reply, the one that answers in text included
    tool_timeout: float = 30.0  # seconds one tool call may run
    tool_max_output_bytes: int = 64 * 1024  # a bigger result goes to the model as an error
    # Everything else the environment holds, for plugins to read their own names from.
    environ: dict[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        # URLs keep all but their password; tokens show only whether they are set.
        shown = []
        for item in fields(self):
            if not item.repr:
                continue
            value = getattr(self, item.name)
            if item.name in _URL_FIELDS:
                value = masked_url(value)
            elif item.name in _TOKEN_FIELDS and value is not None:
                value = "***"
            shown.append(f"{item.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        if environ is None:
            load_dotenv(Path.cwd() / ".env", override=False)
            environ = dict(os.environ)
        defaults = cls()
        return cls(
            database_url=environ.get("DATABASE_URL") or defaults.database_url,
            data_dir=Path(environ.get("PROMPTKIT_DATA_DIR") or defaults.data_dir),
            default_model=environ.get("PROMPTKIT_MODEL") or defaults.default_model,
            disabled_plugins=_csv(environ.get("PROMPTKIT_DISABLED_PLUGINS")),
            cors_origins=_csv(environ.get("PROMPTKIT_CORS_ORIGINS")),
            rate_limit=environ.get("PROMPTKIT_RATE_LIMIT") or None,
            api_rate_limit=environ.get("PROMPTKIT_API_RATE_LIMIT") or defaults.api_rate_limit,
            redis_url=environ.get("REDIS_URL") or None,
            metrics_token=environ.get("PROMPTKIT_METRICS_TOKEN") or None,
            graceful_timeout=_number(
                environ, "PROMPTKIT_GRACEFUL_TIMEOUT", defaults.graceful_timeout, float
            ),
            log_level=(environ.get("PROMPTKIT_LOG_LEVEL") or defaults.log_level).upper(),
            max_upload_bytes=_number(
                environ, "PROMPTKIT_MAX_UPLOAD_BYTES", defaults.max_upload_bytes, int
            ),
            max_chat_bytes=_number(
                environ, "PROMPTKIT_MAX_CHAT_BYTES", defaults.max_chat_bytes, int
            ),
            context_budget_chars=_number(
                environ, "PROMPTKIT_CONTEXT_BUDGET_CHARS", defaults.context_budget_chars, int
            ),
            tools=_csv(environ["PROMPTKIT_TOOLS"]) if environ.get("PROMPTKIT_TOOLS") else None,
            max_tool_steps=_number(
                environ, "PROMPTKIT_MAX_TOOL_STEPS", defaults.max_tool_steps, int
            ),
            tool_timeout=_number(environ, "PROMPTKIT_TOOL_TIMEOUT", defaults.tool_timeout, float),
            tool_max_output_bytes=_number(
                environ, "PROMPTKIT_TOOL_MAX_OUTPUT_BYTES", defaults.tool_max_output_bytes, int
            ),
            environ=environ,
        )
