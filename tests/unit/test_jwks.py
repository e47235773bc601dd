"""JWTs verified with the keys of a JWKS URL (a local HTTP server serving a set made here)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from service.adapters.auth import (
    AuthConfigError,
    Authenticator,
    Identity,
    JwtRules,
    Unauthenticated,
)
from service.settings import Settings


class KeySet:
    """The JWKS the server answers with, and how often it was asked."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.delay = 0.0

    def add(self, kid: str) -> rsa.RSAPrivateKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
        self.keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return private


@pytest.fixture
def jwks() -> Iterator[tuple[str, KeySet]]:
    served = KeySet()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            served.fetches += 1
            time.sleep(served.delay)
            body = json.dumps({"keys": served.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", served
    finally:
        server.shutdown()
        server.server_close()


def signed(private: rsa.RSAPrivateKey, kid: str, **extra: Any) -> str:
    claims = {"sub": "ana", "role": "lead", "exp": int(time.time()) + 60, **extra}
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})


def test_a_jwt_is_verified_with_the_key_its_kid_names_and_the_set_is_fetched_once(jwks):
    # given a JWKS with two keys
    url, served = jwks
    first, second = served.add("k1"), served.add("k2")
    verifier = Authenticator({}, JwtRules("", ("RS256",), jwks_url=url))
    # when tokens signed with either key are presented, several times
    for _ in range(3):
        assert verifier.identify(f"Bearer {signed(first, 'k1')}") == Identity("ana", "lead")
        assert verifier.identify(f"Bearer {signed(second, 'k2')}") == Identity("ana", "lead")
    # then the key set was fetched once and cached
    assert served.fetches == 1


def test_a_key_added_to_the_set_later_is_found_by_fetching_again(jwks):
    # given a verifier that fetched the set while it had one key
    url, served = jwks
    first = served.add("k1")
    verifier = Authenticator({}, JwtRules("", ("RS256",), jwks_url=url, jwks_refetch_seconds=0))
    verifier.identify(f"Bearer {signed(first, 'k1')}")
    # when the identity provider adds a key and signs with it
    rotated = served.add("k2")
    identity = verifier.identify(f"Bearer {signed(rotated, 'k2')}")
    # then the set is fetched again and the token accepted
    assert identity == Identity("ana", "lead")
    assert served.fetches == 2


def test_a_token_signed_by_a_key_not_in_the_set_is_refused(jwks):
    url, served = jwks
    served.add("k1")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = Authenticator({}, JwtRules("", ("RS256",), jwks_url=url))
    with pytest.raises(Unauthenticated):
        verifier.identify(f"Bearer {signed(stranger, 'k1')}")
    with pytest.raises(Unauthenticated):
        verifier.identify(f"Bearer {signed(stranger, 'k9')}")


def test_audience_and_expiry_are_still_checked_with_jwks(jwks):
    url, served = jwks
    private = served.add("k1")
    verifier = Authenticator({}, JwtRules("", ("RS256",), audience="appeasement", jwks_url=url))
    assert verifier.identify(f"Bearer {signed(private, 'k1', aud='appeasement')}").user == "ana"
    with pytest.raises(Unauthenticated):
        verifier.identify(f"Bearer {signed(private, 'k1', aud='elsewhere')}")
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.identify(f"Bearer {signed(private, 'k1', aud='appeasement', exp=1)}")


def test_settings_take_a_jwks_url_or_a_key_not_both():
    rules = Settings(auth_jwt_jwks_url="https://idp.example/jwks.json",
                     auth_jwt_algorithms=["RS256"]).jwt_rules()
    assert rules is not None and rules.jwks_url == "https://idp.example/jwks.json"
    with pytest.raises(AuthConfigError, match="not both"):
        Settings(auth_jwt_jwks_url="https://idp.example/jwks.json",
                 auth_jwt_key="k" * 40).jwt_rules()


async def test_a_slow_jwks_fetch_does_not_hold_up_other_requests(jwks):
    # given a JWKS server that takes 0.5 s to answer
    url, served = jwks
    private = served.add("k1")
    served.delay = 0.5
    verifier = Authenticator({}, JwtRules("", ("RS256",), jwks_url=url))
    ticks = 0

    async def meanwhile() -> None:
        nonlocal ticks
        for _ in range(10):
            await asyncio.sleep(0.02)
            ticks += 1

    async def verify() -> tuple[Identity, int]:
        identity = await verifier.identify_async(f"Bearer {signed(private, 'k1')}")
        return identity, ticks

    # when a token is verified while other work is due on the event loop
    (identity, ticks_by_then), _ = await asyncio.gather(verify(), meanwhile())
    # then the token is verified, and the other work ran during the fetch, not after it
    assert identity == Identity("ana", "lead") and served.fetches == 1
    assert ticks_by_then == 10
