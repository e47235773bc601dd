"""Who calls: bearer tokens from a tokens file, or JWTs verified with PyJWT.

Both can be configured at once: a token found in the file names its user and role; any
other token must be a valid JWT (signature, expiry, and audience / issuer when set).
"""

from __future__ import annotations

import hmac
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jwt
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


def add_token(path: Path, user: str, role: str) -> str:
    """Append a fresh random token for `user` and `role` to the tokens file; return it."""
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        file.write(f'\n[tokens."{token}"]\nuser = "{user}"\nrole = "{role}"\n')
    path.chmod(0o600)
    return token


@dataclass(frozen=True)
class JwtRules:
    key: str
    algorithms: tuple[str, ...]
    role_claim: str = "role"
    audience: str | None = None
    issuer: str | None = None


class Authenticator:
    def __init__(self, tokens: dict[str, Identity], jwt_rules: JwtRules | None) -> None:
        if not tokens and jwt_rules is None:
            raise AuthConfigError(
                "no way to authenticate callers: set AUTH_TOKENS_FILE (a tokens file) "
                "or AUTH_JWT_KEY (a JWT secret or public key)"
            )
        self._tokens = tokens
        self._jwt = jwt_rules

    def identify(self, authorization: str | None) -> Identity:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("send Authorization: Bearer <token>")
        for known, identity in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return identity
        if self._jwt is None:
            raise Unauthenticated("unknown token")
        return self._verify(token)

    def _verify(self, token: str) -> Identity:
        rules = self._jwt
        assert rules is not None
        try:
            claims = jwt.decode(
                token, rules.key, algorithms=list(rules.algorithms), audience=rules.audience,
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
