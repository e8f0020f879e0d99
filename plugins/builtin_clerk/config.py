"""What the Clerk plugin reads from the environment, checked once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from promptkit.settings import is_loopback_host

# Any of these means "this deployment talks to a real Clerk instance": the local key is then off.
PRODUCTION_NAMES = (
    "CLERK_JWT_KEY",
    "CLERK_JWKS_URL",
    "CLERK_SECRET_KEY",
    "CLERK_ISSUER",
    "CLERK_AUTHORIZED_PARTIES",
)


class ConfigError(ValueError):
    """A CLERK_* setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class ClerkConfig:
    jwt_key: str | None = None
    jwks_url: str | None = None
    # Sent as a Bearer credential with the JWKS request (Clerk's Backend API JWKS needs it).
    secret_key: str | None = None
    authorized_parties: frozenset[str] | None = None
    issuer: str | None = None
    clock_skew_seconds: int = 5
    reject_pending: bool = False
    jwks_timeout_seconds: float = 3.0
    # An unknown `kid` triggers at most one JWKS fetch per this interval, whatever the traffic.
    jwks_min_refresh_seconds: float = 30.0
    # Keys older than this are refetched on the next request; on failure the old ones stay.
    jwks_max_age_seconds: float = 300.0
    # The `__session` cookie as a credential: off, since a cookie rides along on cross-site
    # requests (CSRF); when on, only from an origin in PROMPTKIT_CORS_ORIGINS.
    accept_cookie: bool = False

    @property
    def uses_local_key(self) -> bool:
        return self.jwt_key is None and self.jwks_url is None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ClerkConfig:
        def text(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        parties = text("CLERK_AUTHORIZED_PARTIES")
        config = cls(
            jwt_key=text("CLERK_JWT_KEY"),
            jwks_url=text("CLERK_JWKS_URL"),
            secret_key=text("CLERK_SECRET_KEY"),
            authorized_parties=(
                frozenset(p.strip().rstrip("/") for p in parties.split(",") if p.strip())
                if parties
                else None
            ),
            issuer=text("CLERK_ISSUER"),
            clock_skew_seconds=int(_number(environ, "CLERK_CLOCK_SKEW_SECONDS", 5)),
            reject_pending=_flag(environ, "CLERK_REJECT_PENDING"),
            jwks_timeout_seconds=_number(environ, "CLERK_JWKS_TIMEOUT_SECONDS", 3.0),
            jwks_min_refresh_seconds=_number(environ, "CLERK_JWKS_MIN_REFRESH_SECONDS", 30.0),
            jwks_max_age_seconds=_number(environ, "CLERK_JWKS_MAX_AGE_SECONDS", 300.0),
            accept_cookie=_flag(environ, "CLERK_ACCEPT_COOKIE"),
        )
        if config.jwks_url:
            _check_jwks_url(config.jwks_url)
        if config.uses_local_key:
            half_set = [name for name in PRODUCTION_NAMES if text(name)]
            if half_set:
                # A half-configured deployment must fail loudly, never fall back to a local key.
                raise ConfigError(
                    f"{', '.join(half_set)} is set but neither CLERK_JWT_KEY nor CLERK_JWKS_URL: "
                    "set one of them to verify Clerk session tokens"
                )
        return config


def _check_jwks_url(url: str) -> None:
    """The JWKS request carries CLERK_SECRET_KEY: plain HTTP only to this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return
    raise ConfigError(
        "CLERK_JWKS_URL must be an https:// URL (http:// only to a loopback host such as "
        "127.0.0.1 or localhost)"
    )


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, not {raw!r}")
