"""Who is calling: bearer JWTs verified into an `Identity` (DESIGN section 5).

The embedded default signs HS256 with a secret generated on first run in the data folder;
production verifies RS256 against the agency identity provider's JWKS URL. The tenant comes only
from a verified token.
"""

from __future__ import annotations

import os
import re
import secrets
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.config import CommonSettings

# `records_officer` opens a sealed (closed, RSMo 610.105) record only with an X-Legal-Basis code (shared/sealing.py).
# `directory_admin` edits the deployment's shared directory and counts only in the operator's tenant
# (DIVERSION_PLATFORM_AGENCY, ADR 0031).
ROLES = frozenset({"screener", "case_manager", "supervisor", "partner", "admin", "auditor", "directory_admin",
                   "records_officer"})
AGENCY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
LEEWAY_SECONDS = 30
CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
MAX_TOKEN_LENGTH = 8192  # far above any real token; the header line limit is 8192 bytes too
# The type every claim the suite reads must have; a signed token with another type is refused (401).
CLAIM_TYPES: dict[str, tuple[type, ...]] = {"sub": (str,), "agency": (str,), "roles": (list, str), "org": (str,)}


class AuthenticationFailed(Exception):
    """The request carries no valid token; `reason` is safe to show and to audit."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Identity(BaseModel):
    """The verified caller: subject, tenant (agency), roles and, for partners, an organization."""

    model_config = ConfigDict(frozen=True)

    sub: str = Field(min_length=1, max_length=200)
    agency: str
    roles: frozenset[str]
    org: str | None = Field(default=None, max_length=200)

    @field_validator("agency")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not AGENCY_PATTERN.match(value):
            raise ValueError("agency must be a lowercase slug")
        return value

    @field_validator("roles", mode="before")
    @classmethod
    def _known_roles(cls, value: Any) -> frozenset[str]:
        if isinstance(value, str):
            value = [value]
        roles = frozenset(value or ())
        unknown = roles - ROLES
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}")
        if not roles:
            raise ValueError("at least one role is required")
        return roles

    def has_any(self, roles: Iterable[str]) -> bool:
        return bool(self.roles & frozenset(roles))

    def context_data(self) -> dict[str, Any]:
        """What travels with RPC calls and events (nameko context data).

        `org` only when there is one: nameko drops headers whose value is None, with a warning.
        """
        data: dict[str, Any] = {"sub": self.sub, "agency": self.agency, "roles": sorted(self.roles)}
        if self.org is not None:
            data["org"] = self.org
        return data

    @classmethod
    def from_context(cls, data: dict[str, Any]) -> Identity | None:
        try:
            return cls(sub=data["sub"], agency=data["agency"], roles=data["roles"], org=data.get("org"))
        except (KeyError, ValidationError, TypeError):
            return None


def identity_from_claims(claims: Any) -> Identity:
    """The identity a verified token's claims name, every claim type-checked (a 401, never a 500)."""
    if not isinstance(claims, dict):
        raise AuthenticationFailed("token claims invalid: not an object")
    wrong = sorted(name for name, types in CLAIM_TYPES.items()
                   if claims.get(name) is not None and not isinstance(claims[name], types))
    roles = claims.get("roles")
    if isinstance(roles, list) and not all(isinstance(role, str) for role in roles):
        wrong.append("roles")
    if wrong:
        raise AuthenticationFailed(f"token claims of the wrong type: {', '.join(sorted(set(wrong)))}")
    if any(isinstance(claims.get(name), str) and CONTROL.search(claims[name]) for name in ("sub", "org")):
        raise AuthenticationFailed("token claims invalid: control characters")
    try:
        return Identity(sub=claims.get("sub"), agency=claims.get("agency", ""), roles=roles, org=claims.get("org"))
    except ValidationError as exc:
        fields = ", ".join(sorted({str(err["loc"][0]) for err in exc.errors() if err.get("loc")}))
        raise AuthenticationFailed(f"token claims invalid: {fields}") from None


def cursor_secret(settings: CommonSettings) -> str:
    """What list cursors are signed with: the setting, else the HS256 secret, else one generated once."""
    if settings.cursor_secret:
        return settings.cursor_secret
    if settings.jwt_secret:  # set on every replica (compose requires it), so cursors cross replicas
        return settings.jwt_secret
    if settings.jwt_algorithm == "HS256":
        return load_or_create_secret(settings.secret_file)
    return load_or_create_secret(settings.data_dir / "cursor-secret")


def unverified_claims(header: str | None) -> tuple[str | None, str | None]:
    """The `agency` and `sub` a token that failed verification claims, for the audit row only.

    Never an identity: the claims are unverified (anyone can write them), so they only decide whose auditor
    sees the failure. An agency claim that is not a slug counts as no agency (the platform audit).
    """
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 16_384:
        return None, None
    try:
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
    except Exception:  # noqa: BLE001 - any garbage is simply a token that names no agency
        return None, None
    if not isinstance(claims, dict):
        return None, None
    agency = claims.get("agency")
    sub = claims.get("sub")
    return (agency if isinstance(agency, str) and AGENCY_PATTERN.match(agency) else None,
            CONTROL.sub("", sub)[:150] or None if isinstance(sub, str) and sub else None)


def is_deployment_admin(identity: Identity | None, platform_agency: str) -> bool:
    """The deployment's admin: the `admin` role in the operator's own tenant (`DIVERSION_PLATFORM_AGENCY`)."""
    return identity is not None and identity.agency == platform_agency and "admin" in identity.roles


def load_or_create_secret(path: Path) -> str:
    """The embedded default's HS256 secret: created once (mode 0600), then reused by every process."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(48)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(candidate)
    try:
        os.link(temp, path)  # atomic: the first process to get here wins, the others read its secret
    except FileExistsError:
        pass
    finally:
        temp.unlink(missing_ok=True)
    return path.read_text().strip()


def ensure_secret(settings: CommonSettings) -> None:
    """At start: the embedded HS256 secret exists before the first request, so `diversion token` finds it."""
    if settings.jwt_algorithm == "HS256" and not settings.jwt_secret:
        load_or_create_secret(settings.secret_file)


class SecretMissing(ValueError):
    """No HS256 secret where the settings point: the suite has not run with this data directory."""


def existing_secret(settings: CommonSettings) -> str:
    """The HS256 secret the running suite signs with, never a new one (a new one would sign tokens it rejects)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = settings.secret_file
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        secret = ""
    except OSError as exc:
        raise SecretMissing(f"cannot read the JWT secret {path.resolve()}: {exc.strerror}") from None
    if not secret:
        raise SecretMissing(
            f"no JWT secret: DIVERSION_JWT_SECRET is not set and {path.resolve()} does not exist (or is empty). "
            f"The suite creates that file when it first starts (`diversion run`) in its data directory "
            f"({settings.data_dir.resolve()}); point DIVERSION_DATA_DIR at the suite's data directory, or set "
            f"DIVERSION_JWT_SECRET_FILE or DIVERSION_JWT_SECRET as the suite has them"
        )
    return secret


class TokenVerifier:
    """Verifies bearer tokens according to the suite's settings."""

    def __init__(self, settings: CommonSettings):
        self.settings = settings
        self.algorithm = settings.jwt_algorithm
        self._jwks: jwt.PyJWKClient | None = None
        self._secret: str | None = None
        if self.algorithm == "HS256":
            self._secret = settings.jwt_secret or load_or_create_secret(settings.secret_file)
        else:
            assert settings.jwks_url, "validated by load_settings"
            self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def _key(self, token: str) -> Any:
        if self._secret is not None:
            return self._secret
        assert self._jwks is not None
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as exc:
            raise AuthenticationFailed(f"signing key not available: {exc}") from None

    def verify(self, token: str) -> Identity:
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationFailed(f"token longer than {MAX_TOKEN_LENGTH} characters")
        try:
            claims = jwt.decode(
                token,
                key=self._key(token),
                algorithms=[self.algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "sub"], "verify_aud": self.settings.jwt_audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationFailed(f"invalid token: {exc}") from None
        except (ValueError, TypeError, KeyError, OverflowError) as exc:  # malformed beyond what PyJWT names
            raise AuthenticationFailed(f"invalid token: {type(exc).__name__}") from None
        return identity_from_claims(claims)

    def verify_header(self, header: str | None) -> Identity:
        if not header:
            raise AuthenticationFailed("missing bearer token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("authorization header is not a bearer token")
        return self.verify(token.strip())


def issue_token(
    settings: CommonSettings,
    *,
    agency: str,
    roles: Iterable[str],
    sub: str | None = None,
    org: str | None = None,
    ttl_seconds: int = 8 * 3600,
    create_secret: bool = True,
) -> str:
    """Sign a token the embedded suite accepts (HS256 only: production tokens come from the IdP).

    `create_secret=False` (the CLI) signs only with a secret that exists, else raises `SecretMissing`.
    """
    if settings.jwt_algorithm != "HS256":
        raise ValueError("tokens can only be issued locally with HS256; production uses the identity provider")
    identity = Identity(sub=sub or f"user-{uuid.uuid4().hex[:8]}", agency=agency, roles=frozenset(roles), org=org)
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": identity.sub,
        "agency": identity.agency,
        "roles": sorted(identity.roles),
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    if org:
        claims["org"] = org
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if create_secret:
        secret = settings.jwt_secret or load_or_create_secret(settings.secret_file)
    else:
        secret = existing_secret(settings)
    return jwt.encode(claims, secret, algorithm="HS256")
