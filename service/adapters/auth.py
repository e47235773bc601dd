"""Who calls: bearer tokens from a tokens file, or JWTs verified with PyJWT.

Both can be configured at once: a token found in the file names its user and role; any
other token must be a valid JWT (signature, expiry, and audience / issuer when set), checked
with a key or with the keys of a JWKS URL.

The tokens file keeps SHA-256 hashes of tokens (`[tokens."sha256:<hex>"]`), so that a copy
of the file lets nobody in; entries written before hashing (the token itself as the key) are
still read, and `python -m service tokens hash` rewrites them as hashes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jwt
from jwt import PyJWKClient
from pydantic import BaseModel, ConfigDict, ValidationError

from service.domain.errors import DomainError


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class AuthConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Identity:
    user: str
    role: str


class _TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str
    role: str


class _TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: dict[str, _TokenEntry] = {}


def load_tokens(path: Path) -> dict[str, Identity]:
    try:
        document = _TokensFile.model_validate(tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AuthConfigError(f"{path}: {error}") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False)
        )
        raise AuthConfigError(f"{path}: {problems}") from None
    return {token: Identity(entry.user, entry.role) for token, entry in document.tokens.items()}


HASH_PREFIX = "sha256:"
_HASHED = re.compile(r"^sha256:[0-9a-f]{64}$")


def token_hash(token: str) -> str:
    """What the tokens file keeps of a token: `sha256:` and the hex digest."""
    return HASH_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def is_hashed(entry: str) -> bool:
    return bool(_HASHED.match(entry))


def add_token(path: Path, user: str, role: str, *, hashed: bool = True) -> str:
    """Append a fresh random token for `user` and `role` to the tokens file; return it.

    The file keeps only the token's hash: the token is shown once, to the caller. `hashed=False`
    keeps the token itself, for the demo tokens `make run` prints at every start.
    """
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        file.write(_entry(token_hash(token) if hashed else token, user, role))
    path.chmod(0o600)
    return token


def hash_tokens_file(path: Path) -> tuple[int, int]:
    """Rewrite every plaintext entry of the tokens file as its hash, in place (a temporary
    file renamed over it). Returns (entries hashed now, entries already hashed)."""
    entries = load_tokens(path)
    plain = [entry for entry in entries if not is_hashed(entry)]
    if not plain:
        return 0, len(entries)
    # a token listed both ways ends up once
    hashed = {entry if is_hashed(entry) else token_hash(entry): who for entry, who in entries.items()}
    text = "".join(_entry(entry, who.user, who.role) for entry, who in hashed.items())
    fresh = path.with_name(path.name + ".new")
    descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text.lstrip("\n"))
    fresh.replace(path)
    return len(plain), len(entries) - len(plain)


def _entry(key: str, user: str, role: str) -> str:
    return f'\n[tokens.{_toml_string(key)}]\nuser = {_toml_string(user)}\nrole = {_toml_string(role)}\n'


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass(frozen=True)
class JwtRules:
    """How JWTs are verified: with `key`, or with the key of a JWKS URL named by the token's
    `kid` (fetched once, cached for `jwks_cache_seconds`; a `kid` not in the cache fetches the
    set again, at most once per `jwks_refetch_seconds`)."""

    key: str
    algorithms: tuple[str, ...]
    role_claim: str = "role"
    audience: str | None = None
    issuer: str | None = None
    jwks_url: str | None = None
    jwks_cache_seconds: float = 300.0
    jwks_timeout_seconds: float = 5.0
    jwks_refetch_seconds: float = 30.0


class Authenticator:
    def __init__(self, tokens: dict[str, Identity], jwt_rules: JwtRules | None) -> None:
        if not tokens and jwt_rules is None:
            raise AuthConfigError(
                "no way to authenticate callers: set AUTH_TOKENS_FILE (a tokens file) "
                "or AUTH_JWT_KEY (a JWT secret or public key)"
            )
        # plaintext entries are hashed here: every token is compared by its hash
        self._tokens = {
            entry if is_hashed(entry) else token_hash(entry): identity
            for entry, identity in tokens.items()
        }
        self._jwt = jwt_rules
        self._jwks = None if jwt_rules is None or not jwt_rules.jwks_url else PyJWKClient(
            jwt_rules.jwks_url, cache_keys=True, lifespan=jwt_rules.jwks_cache_seconds,
            timeout=jwt_rules.jwks_timeout_seconds,
            cooldown_duration=jwt_rules.jwks_refetch_seconds,
        )

    async def identify_async(self, authorization: str | None) -> Identity:
        """`identify` for the event loop: with a JWKS URL the key set may have to be
        fetched (up to its timeout), so the check runs in a worker thread."""
        if self._jwks is None:
            return self.identify(authorization)
        return await asyncio.to_thread(self.identify, authorization)

    def identify(self, authorization: str | None) -> Identity:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("send Authorization: Bearer <token>")
        presented = token_hash(token)
        for known, identity in self._tokens.items():
            if hmac.compare_digest(known, presented):
                return identity
        if self._jwt is None:
            raise Unauthenticated("unknown token")
        return self._verify(token)

    def _verify(self, token: str) -> Identity:
        rules = self._jwt
        assert rules is not None
        try:
            key = self._jwks.get_signing_key_from_jwt(token).key if self._jwks else rules.key
            claims = jwt.decode(
                token, key, algorithms=list(rules.algorithms), audience=rules.audience,
                issuer=rules.issuer, options={"require": ["sub", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"invalid token: {error}") from None
        role = claims.get(rules.role_claim)
        if not isinstance(role, str) or not role:
            raise Unauthenticated(f"the token has no {rules.role_claim!r} claim")
        return Identity(str(claims["sub"]), role)
