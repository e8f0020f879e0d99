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


def _switch(environ: dict[str, str], name: str, default: bool) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"{name} must be on or off, not {raw!r}")


def _networks(environ: dict[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDRs, each checked: a typo would trust nobody silently."""
    networks = []
    for part in _csv(environ.get(name)):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(
                f"{name} takes addresses or CIDRs like 10.0.0.0/8, not {part!r}"
            ) from None
    return tuple(networks)


_URL_FIELDS = frozenset({"database_url", "redis_url"})
_TOKEN_FIELDS = frozenset({"metrics_token"})


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///promptkit.sqlite3"
    # PostgreSQL through a pooler in transaction mode: no prepared statements kept.
    db_pgbouncer: bool = False
    # Connections per process; instances x workers x this must stay under max_connections.
    db_pool_size: int = 20
    # Seconds a statement waits for a free connection before it answers 503.
    db_pool_timeout: float = 5.0
    data_dir: Path = Path(".promptkit")
    # PROMPTKIT_MODEL; unset: gpt-4.1-mini when registered, else the first allowed model.
    default_model: str | None = None
    # PROMPTKIT_MODELS: ids or glob patterns of the models chats may name; empty: all registered.
    models: tuple[str, ...] = ()
    models_refresh_seconds: float = 300.0
    disabled_plugins: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    # Peers whose X-Forwarded-For and X-Forwarded-Proto are believed (CIDRs); none by default.
    trusted_proxies: tuple[str, ...] = ()
    # Chats per user; every chat also counts against the API limit. "off" disables.
    rate_limit: str | None = "30/minute"
    # Tokens per user per window, such as "200000/day"; unset: no budget.
    token_budget: str | None = None
    # Tokens per organization per window, on top of each member's own budget; unset: none.
    org_token_budget: str | None = None
    # Clerk organization roles (with or without `org:`) that may change a project; others only
    # use it (`promptkit.roles`).
    org_admin_roles: tuple[str, ...] = ("org:admin", "admin")
    max_reply_tokens: int = 4096
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
    max_attachments: int = 10  # files attached to one user message
    # Replies generated whether or not a client is attached, and resumed by `GET
    # /chat/{id}/stream` (see promptkit/replies); one with no client for `resume_grace`
    # seconds is stopped.
    resumable: bool = False
    resume_grace: float = 600.0
    # How long a stream's lease lasts unrenewed: how soon a dead instance's reply is stored
    # `partial` by another. None: `chat.LEASE_SECONDS`.
    stream_lease_seconds: float | None = None
    # An untitled conversation is named beside its first reply (`promptkit.titles`).
    titles: bool = True
    # Every hook call logged with its plugins, outcome and time (`plugins._traced`).
    trace_plugins: bool = False
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
            db_pgbouncer=_switch(environ, "PROMPTKIT_DB_PGBOUNCER", False),
            db_pool_size=_number(environ, "PROMPTKIT_DB_POOL_SIZE", defaults.db_pool_size, int),
            db_pool_timeout=_number(
                environ, "PROMPTKIT_DB_POOL_TIMEOUT", defaults.db_pool_timeout, float
            ),
            data_dir=Path(environ.get("PROMPTKIT_DATA_DIR") or defaults.data_dir),
            default_model=environ.get("PROMPTKIT_MODEL") or None,
            models=_csv(environ.get("PROMPTKIT_MODELS")),
            models_refresh_seconds=_number(
                environ, "PROMPTKIT_MODELS_REFRESH", defaults.models_refresh_seconds, float
            ),
            disabled_plugins=_csv(environ.get("PROMPTKIT_DISABLED_PLUGINS")),
            cors_origins=_csv(environ.get("PROMPTKIT_CORS_ORIGINS")),
            trusted_proxies=_networks(environ, "PROMPTKIT_TRUSTED_PROXIES"),
            rate_limit=environ.get("PROMPTKIT_RATE_LIMIT") or defaults.rate_limit,
            token_budget=environ.get("PROMPTKIT_TOKEN_BUDGET") or None,
            org_token_budget=environ.get("PROMPTKIT_ORG_TOKEN_BUDGET") or None,
            org_admin_roles=_csv(environ.get("PROMPTKIT_ORG_ADMIN_ROLES"))
            or defaults.org_admin_roles,
            max_reply_tokens=_number(
                environ, "PROMPTKIT_MAX_REPLY_TOKENS", defaults.max_reply_tokens, int
            ),
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
            max_attachments=_number(
                environ, "PROMPTKIT_MAX_ATTACHMENTS", defaults.max_attachments, int
            ),
            resumable=_switch(environ, "PROMPTKIT_RESUMABLE", defaults.resumable),
            resume_grace=_number(environ, "PROMPTKIT_RESUME_GRACE", defaults.resume_grace, float),
            stream_lease_seconds=_number(environ, "PROMPTKIT_STREAM_LEASE_SECONDS", 0.0, float)
            or None,
            titles=_switch(environ, "PROMPTKIT_TITLES", defaults.titles),
            trace_plugins=_switch(environ, "PROMPTKIT_TRACE_PLUGINS", defaults.trace_plugins),
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
