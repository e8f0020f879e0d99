"""Verify a Clerk session token as Clerk documents it, and turn its claims into a Principal.

Order matters: the header is parsed and the algorithm checked (RS256 only) before any key is
looked up, the signature before any claim is trusted, and the claims before the principal is
built. Each failure answers with a short reason that never includes the token.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, NamedTuple

from cachetools import TLRUCache
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExceededSizeError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import GuestProtocol, RSAKey
from joserfc.jws import JWSRegistry

from promptkit import AuthenticationError, Principal, ServiceUnavailable

from .config import ClerkConfig
from .keys import KeySource, UnknownKey

# RS256 only. Clerk adds headers of its own (`cat`, `oiat`): unknown headers are ignored.
REGISTRY = JWSRegistry(algorithms=["RS256"], strict_check_header=False)

_CLAIM_REASONS = {
    "nbf": "token not yet valid",
    "iat": "token issued in the future",
    "iss": "token issuer is not accepted",
}

# How many verified tokens a worker remembers (the least recently used go first).
VERIFIED_TOKENS = 10_000
# The longest a verified token is remembered, whatever its `exp`: a key removed from the JWKS
# (or the local key replaced) stops admitting its tokens within this time.
REMEMBER_SECONDS = 60.0


class _Verified(NamedTuple):
    principal: Principal
    expires: float  # when it is forgotten: its `exp` plus the skew, at most REMEMBER_SECONDS on


class Verifier:
    def __init__(self, config: ClerkConfig, keys: KeySource) -> None:
        self.config = config
        self.keys = keys
        required = {"exp", "sub", "sid"}
        options: dict[str, Any] = {name: {"essential": True} for name in required}
        if config.issuer:
            options["iss"] = {"essential": True, "value": config.issuer}
        self.claims_registry = jwt.JWTClaimsRegistry(leeway=config.clock_skew_seconds, **options)
        # A browser sends the same session token with every request of its minute of life, and
        # the RSA signature is most of a verification's cost: a token that passed every check
        # is remembered, by its SHA-256, until it expires or for REMEMBER_SECONDS, whichever
        # comes first. Refusals are never remembered.
        self._verified: TLRUCache[bytes, _Verified] = TLRUCache(
            VERIFIED_TOKENS, lambda _digest, verified, _now: verified.expires, timer=time.time
        )

    async def verify(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).digest()
        verified = self._verified.get(digest)
        if verified is None:
            decoded = await self._decode_with_current_keys(token)
            claims = self._check_claims(decoded.claims)
            expires = min(
                float(claims["exp"]) + self.config.clock_skew_seconds,
                time.time() + REMEMBER_SECONDS,
            )
            verified = self._verified[digest] = _Verified(principal_from(claims), expires)
        return verified.principal

    async def _decode_with_current_keys(self, token: str) -> jwt.Token:
        """Decode from the keys in memory; refresh them first only when they are stale or lack
        the token's `kid`, and only once the header has passed (so `alg: none` fetches nothing).
        """
        try:
            decoded = self._decode(token)
            if not self.keys.is_stale():
                return decoded
        except UnknownKey:
            pass
        reachable = await self.keys.refresh()  # bounded; a failure keeps the old keys
        try:
            return self._decode(token)
        except UnknownKey:
            if not reachable:
                # The token may be good: we cannot tell, so "try again", not "signed out".
                raise ServiceUnavailable("the token signing keys cannot be fetched") from None
            raise AuthenticationError("token signed by an unknown key") from None

    def _decode(self, token: str) -> jwt.Token:
        try:
            return jwt.decode(token, self._key_for, registry=REGISTRY)
        except UnknownKey:
            raise
        except UnsupportedAlgorithmError:
            raise AuthenticationError("token algorithm is not accepted (RS256 only)") from None
        except BadSignatureError:
            raise AuthenticationError("token signature is invalid") from None
        except ExceededSizeError:
            raise AuthenticationError("token is too large") from None
        except (JoseError, ValueError, TypeError, KeyError):
            raise AuthenticationError("token is malformed") from None

    def _key_for(self, token: GuestProtocol) -> RSAKey:
        kid = token.headers().get("kid")
        return self.keys.key_for(kid if isinstance(kid, str) else None)

    def _check_claims(self, claims: dict[str, Any]) -> dict[str, Any]:
        try:
            self.claims_registry.validate(claims)
        except ExpiredTokenError:
            raise AuthenticationError("token expired") from None
        except MissingClaimError as error:
            # The session claims are required: a JWT template token is not a session token.
            raise AuthenticationError(f"token lacks required claims: {error.claim}") from None
        except ClaimError as error:
            reason = _CLAIM_REASONS.get(error.claim, f"token claim {error.claim!r} is invalid")
            raise AuthenticationError(reason) from None
        if "aud" in claims:
            # No audience is configured, so a token that names one is for someone else (RFC 7519).
            raise AuthenticationError("token is meant for another audience")
        if not isinstance(claims["sid"], str):
            raise AuthenticationError("token claim 'sid' is invalid")
        parties = self.config.authorized_parties
        if parties is not None and claims.get("azp") not in parties:
            # Missing azp is refused too when parties are set, as Clerk's Python SDK does.
            raise AuthenticationError("token authorized party (azp) is not allowed")
        if self.config.reject_pending and claims.get("sts") == "pending":
            raise AuthenticationError("session is pending: finish signing in first")
        return claims


def principal_from(claims: dict[str, Any]) -> Principal:
    """User and session, plus the active organization from v2's `o` or v1's `org_*` claims.

    The role reads `org:<role>` for both versions, as Clerk's JavaScript SDK presents it. A v2
    token has no `o` without an active organization: the principal is then personal.
    """
    organization = claims.get("o")
    if claims.get("v") == 2:
        if not isinstance(organization, dict):
            organization = {}
        org_id, org_slug = _text(organization.get("id")), _text(organization.get("slg"))
        role = _text(organization.get("rol"))
        org_role = role if role is None or role.startswith("org:") else f"org:{role}"
        permissions = _v2_permissions(claims.get("fea"), organization)
    else:
        org_id, org_slug = _text(claims.get("org_id")), _text(claims.get("org_slug"))
        org_role = _text(claims.get("org_role"))
        listed = claims.get("org_permissions")
        permissions = tuple(p for p in listed if _text(p)) if isinstance(listed, list) else ()
    return Principal(
        user_id=claims["sub"],
        session_id=claims["sid"],
        org_id=org_id,
        org_slug=org_slug,
        org_role=org_role if org_id else None,
        org_permissions=permissions if org_id else (),
    )


def _v2_permissions(features: object, organization: dict[str, Any]) -> tuple[str, ...]:
    """`org:<feature>:<permission>` for each organization feature in `fea` and each permission
    of `o.per` that its bitmask in `o.fpm` sets (least significant bit: the first permission),
    as Clerk's SDKs expand them."""
    names, masks = organization.get("per"), organization.get("fpm")
    if not (isinstance(features, str) and isinstance(names, str) and isinstance(masks, str)):
        return ()
    permissions = [name for name in names.split(",") if name]
    org_features = [f.removeprefix("o:") for f in features.split(",") if f.startswith("o:")]
    granted = []
    for feature, mask in zip(org_features, masks.split(","), strict=False):
        bits = int(mask) if mask.isdigit() else 0
        granted += [f"org:{feature}:{p}" for i, p in enumerate(permissions) if bits >> i & 1]
    return tuple(granted)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
