"""The local development key pair, and Clerk-shaped session tokens signed with it.

Offline, with no CLERK_* setting, the plugin verifies tokens with this key through the very
code path that checks real Clerk tokens; only the key differs.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

LOCAL_ISSUER = "promptkit-local"
KEY_FILE = Path("clerk") / "local-signing-key.pem"


def local_key_path(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def load_or_create_local_key(data_dir: Path) -> tuple[RSAKey, bool]:
    """The private key under `data_dir`, created when missing; True when it was just created.

    Safe when several workers start at once: the file appears whole or not at all, and the
    first writer wins.
    """
    path = local_key_path(data_dir)
    if path.exists():
        return RSAKey.import_key(path.read_bytes()), False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = RSAKey.generate_key(2048, private=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.as_pem(private=True))
    try:
        os.link(partial, path)  # fails if another process got there first
        created = True
    except FileExistsError:
        created = False
    finally:
        partial.unlink()
    return RSAKey.import_key(path.read_bytes()), created


def key_id(key: RSAKey) -> str:
    return key.thumbprint()


def mint_session_token(
    key: RSAKey,
    user_id: str,
    *,
    ttl_seconds: int = 3600,
    session_id: str | None = None,
    org_id: str | None = None,
    org_slug: str | None = None,
    org_role: str | None = None,
    issuer: str = LOCAL_ISSUER,
    extra_claims: dict[str, Any] | None = None,
    version: int = 2,
) -> str:
    """A Clerk session token for `user_id`, signed RS256 with `key`: v2 (the organization in
    `o`), or with `version=1` the deprecated shape (`org_id`, `org_slug`, `org_role`).

    Real Clerk tokens live 60 s; the default here is an hour so a curl session stays usable.
    `org_role` is given without the `org:` prefix, as the v2 `o.rol` claim carries it.
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "exp": now + ttl_seconds,
        "fva": [0, -1],
        "iat": now,
        "iss": issuer,
        "jti": secrets.token_hex(10),
        "nbf": now,
        "sid": session_id or f"sess_local_{secrets.token_hex(8)}",
        "sub": user_id,
        "v": 2,
    }
    if version == 1:
        del claims["v"]
        if org_id:
            v1 = {"org_id": org_id, "org_slug": org_slug, "org_role": f"org:{org_role or 'member'}"}
            claims.update({name: value for name, value in v1.items() if value})
    elif org_id:
        organization = {"id": org_id, "slg": org_slug, "rol": org_role}
        claims["o"] = {name: value for name, value in organization.items() if value}
    claims.update(extra_claims or {})
    header = {"alg": "RS256", "kid": key_id(key), "typ": "JWT"}
    return jwt.encode(header, claims, key, algorithms=["RS256"])
