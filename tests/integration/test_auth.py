"""Every call but health, readiness, metrics and docs needs a bearer token."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.builders import line, unique
from tests.conftest import JWT_SECRET, bearer
from tests.integration.appeasing import INTERN, given_order, grant

pytestmark = pytest.mark.integration

ORDER = [line("L1", 1, "50.00", "8.68"), line("L2", 2, "5.90", "1.02", product_type="SHIPPING")]


def token(**claims) -> str:
    body = {"sub": "jwt-agent", "role": "agent", "aud": "appeasement",
            "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, JWT_SECRET, algorithm="HS256")


def signed_with(secret: str) -> str:
    body = {"sub": "x", "role": "agent", "aud": "appeasement", "exp": int(time.time()) + 60}
    return jwt.encode(body, secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        ("", "Bearer"),
        ("Basic dXNlcjpwYXNz", "Bearer"),
        ("Bearer not-a-known-token", "invalid token"),
        (f"Bearer {token(exp=int(time.time()) - 10)}", "expired"),
        (f"Bearer {token(aud='someone-else')}", "invalid token"),
        (f"Bearer {signed_with('another-secret-of-enough-length-xx')}", "invalid token"),
        (f"Bearer {token(role=None)}", "role"),
    ],
    ids=["none", "basic", "unknown", "expired-jwt", "wrong-audience", "wrong-signature", "no-role"],
)
async def test_a_call_without_a_valid_token_is_unauthenticated(api, authorization, detail):
    response = await api.get(f"/v1/orders/{unique('ANY')}/balance",
                             headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert detail in response.json()["detail"]


async def test_a_valid_jwt_names_the_caller_and_role(api, publish):
    # given an order
    order_id = unique("JWT")
    await given_order(api, publish, order_id, ORDER)
    # when an agent with a signed JWT grants the shipping
    response = await grant(api, order_id, {"reason": "DELIVERY_DELAYED",
                                           "amounts": {"shipping": "5.90"}},
                           caller=bearer(token()))
    # then the grant is recorded in that user's and role's name
    assert response.status_code == 201, response.text
    assert response.json()["requested_by"] == "jwt-agent"
    assert response.json()["role"] == "agent"


async def test_a_known_user_without_a_role_of_the_policy_is_forbidden(api, publish):
    order_id = unique("INTERN")
    await given_order(api, publish, order_id, ORDER)
    response = await grant(api, order_id, {"reason": "DELIVERY_DELAYED",
                                           "amounts": {"shipping": "5.90"}}, caller=INTERN)
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


async def test_operations_and_docs_need_no_token(api):
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/asyncapi"):
        response = await api.get(path, headers={"Authorization": ""})
        assert response.status_code == 200, path
