"""The Clerk plugin's per-app state: the verifier and its key source."""

from __future__ import annotations

from dataclasses import dataclass

from promptkit import Host

from .config import ClerkConfig
from .keys import JwksKeys, KeySource, StaticKey, parse_public_pem
from .local import load_or_create_local_key, local_key_path
from .verify import Verifier


@dataclass
class ClerkState:
    verifier: Verifier
    # Origins a `__session` cookie is accepted from; None: the cookie is not a credential.
    cookie_origins: frozenset[str] | None = None


def start(host: Host) -> ClerkState:
    settings = host.settings
    config = ClerkConfig.from_environ(settings.environ)
    keys: KeySource
    if config.jwt_key:
        keys = StaticKey(parse_public_pem(config.jwt_key))
    elif config.jwks_url:
        keys = JwksKeys(
            config.jwks_url,
            host.http,  # the app's shared session (it honours HTTPS_PROXY and friends)
            timeout=config.jwks_timeout_seconds,
            min_interval=config.jwks_min_refresh_seconds,
            max_age=config.jwks_max_age_seconds,
            secret_key=config.secret_key,
        )
    else:
        key, _ = load_or_create_local_key(settings.data_dir)
        keys = StaticKey(key)
        host.log.warning(
            "\n%s\nNO CLERK KEY IS SET: tokens are verified with the LOCAL development key %s."
            "\nAnyone who can read that file can sign in as any user. Never run this in "
            "production:\nset CLERK_JWT_KEY (or CLERK_JWKS_URL). Get a token: promptkit token "
            "<user id>\n%s",
            "!" * 78,
            local_key_path(settings.data_dir),
            "!" * 78,
        )
    cookie_origins = frozenset(settings.cors_origins) if config.accept_cookie else None
    return ClerkState(Verifier(config, keys), cookie_origins)
