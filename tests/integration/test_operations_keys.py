"""`bank-key rotate` re-seals every sealed value with the first key; `token` and `tokens hash`
keep only hashes in the tokens file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet

from service.adapters import outbox
from service.adapters.auth import Authenticator, Identity, is_hashed, load_tokens
from service.adapters.db import Database
from service.adapters.sealing import Sealer
from tests.integration.operating import run_cli, scratch_database

pytestmark = pytest.mark.integration

IBAN = {"type": "bank_transfer", "account_owner": "Ana Example", "iban": "DE89370400440532013000",
        "bic": "COBADEFFXXX"}


@pytest.fixture
async def database(infra) -> AsyncIterator[Database]:
    """Rotation touches every sealed row: a database of its own, not the running service's."""
    async with scratch_database(infra.database_url) as scratch:
        yield scratch


async def given_appeasement(database: Database, appeasement_id: str, sealed: str) -> None:
    async with database.pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "INSERT INTO orders (order_id, known) VALUES ($1, true) ON CONFLICT DO NOTHING", "O-1"
        )
        await connection.execute(
            "INSERT INTO appeasements (appeasement_id, order_id, channel, idempotency_key, "
            "request_hash, command_id, status, reason, requested_by, role, currency, taxation, "
            "amount_minor, first_response, bank_details) VALUES ($1, 'O-1', 'http', $1, 'h', $1, "
            "'PENDINGRELEASE', 'DELIVERY_DELAYED', 'agent-42', 'agent', 'EUR', 'gross', 590, "
            "'{}', $2)", appeasement_id, sealed,
        )


async def given_sealed_messages(database: Database, sealer: Sealer) -> None:
    async with database.pool.acquire() as connection, connection.transaction():
        await outbox.add(connection, topic="refunds", key="O-1", message_id="m-1",
                         payload=sealer.seal('{"iban": "DE89370400440532013000"}'), sealed=True)
        await outbox.add(connection, topic="refunds", key="O-1", message_id="m-2",
                         payload='{"plain": true}')
        await outbox.add_raw(
            connection, topic="appeasement.dead_letter", message_id="dead-letter:cmd:0:7",
            key=b"O-1", value=sealer.seal('{"iban": "x"}').encode(),
            headers={"x-sealed": "fernet", "x-error-code": "SCHEMA_VALIDATION"},
        )


async def sealed_values(database: Database) -> dict[str, str]:
    async with database.pool.acquire() as connection:
        values = {row["appeasement_id"]: row["bank_details"] for row in await connection.fetch(
            "SELECT appeasement_id, bank_details FROM appeasements ORDER BY 1")}
        for row in await connection.fetch(
            "SELECT message_id, payload, sealed, raw_value FROM outbox ORDER BY id"
        ):
            if row["sealed"]:
                values[row["message_id"]] = row["payload"]
            elif row["raw_value"] is not None:
                values[row["message_id"]] = bytes(row["raw_value"]).decode()
    return values


async def test_rotation_re_seals_every_sealed_value_with_the_new_key(database):
    # given bank details, a sealed message and a sealed dead letter under the old key,
    # and one appeasement sealed under the new key already
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    await given_appeasement(database, "APP-OLD", Sealer(old).seal_json(IBAN))
    await given_appeasement(database, "APP-NEW", Sealer(new).seal_json(IBAN))
    await given_sealed_messages(database, Sealer(old))
    before = await sealed_values(database)
    env = {"DATABASE_URL": database.dsn, "BANK_DETAILS_KEY": f"{new},{old}"}
    # when the operator rotates with the new key first
    ran = await run_cli("bank-key", "rotate", env=env)
    # then each place reports what it re-sealed and what was current already
    assert ran.code == 0, ran.err
    assert "appeasements.bank_details: re-sealed 1, already under the first key 1" in ran.out
    assert "outbox.payload: re-sealed 1, already under the first key 0" in ran.out
    assert "outbox.dead_letters: re-sealed 1, already under the first key 0" in ran.out
    # and every sealed value opens with the new key alone, its content unchanged
    after = await sealed_values(database)
    only_new, both = Sealer(new), Sealer(f"{new},{old}")
    assert set(after) == {"APP-OLD", "APP-NEW", "m-1", "dead-letter:cmd:0:7"}
    for name, sealed in after.items():
        assert only_new.open(sealed) == both.open(before[name])
    assert after["APP-NEW"] == before["APP-NEW"]
    assert json.loads(only_new.open(after["APP-OLD"])) == IBAN
    # and a second run finds nothing left to re-seal
    again = await run_cli("bank-key", "rotate", env=env)
    assert again.code == 0
    assert "re-sealed 1" not in again.out
    assert "appeasements.bank_details: re-sealed 0, already under the first key 2" in again.out


async def test_a_value_no_key_opens_is_reported_and_left_as_it_is(database):
    # given bank details sealed under a key the operator no longer has
    lost, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    await given_appeasement(database, "APP-LOST", Sealer(lost).seal_json(IBAN))
    before = await sealed_values(database)
    # when the operator rotates without that key
    ran = await run_cli("bank-key", "rotate", env={"DATABASE_URL": database.dsn,
                                                   "BANK_DETAILS_KEY": new})
    # then the command fails and names the value, which is unchanged
    assert ran.code == 1
    assert "opened by no key 1" in ran.out
    assert "APP-LOST" in ran.err
    assert await sealed_values(database) == before


async def test_a_new_token_is_printed_once_and_only_its_hash_is_kept(tmp_path):
    # given a tokens file written before hashing
    path = tmp_path / "tokens.toml"
    path.write_text('[tokens."old-plain-token"]\nuser = "bo"\nrole = "agent"\n')
    # when a token is added with the command
    added = await run_cli("token", "--user", "ana", "--role", "lead", "--file", str(path), env={})
    # then it is printed, and the file keeps only its hash
    assert added.code == 0, added.err
    token = added.out.strip()
    assert token and token not in path.read_text()
    assert "not shown again" in added.err
    # when the operator hashes the file
    hashed = await run_cli("tokens", "hash", "--file", str(path), env={})
    assert hashed.code == 0, hashed.err
    assert "hashed 1 entries, 1 were hashed already" in hashed.out
    # then no token is left in the clear, and both holders still get in
    entries = load_tokens(path)
    assert all(is_hashed(entry) for entry in entries)
    assert "old-plain-token" not in path.read_text()
    verifier = Authenticator(entries, None)
    assert verifier.identify("Bearer old-plain-token") == Identity("bo", "agent")
    assert verifier.identify(f"Bearer {token}") == Identity("ana", "lead")
