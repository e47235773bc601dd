"""`python -m service bulk`: the same bulk appeasements from a terminal, with a progress bar."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from service.__main__ import cli
from tests.builders import unique
from tests.integration.appeasing import TABLE_ORDER, given_order
from tests.integration.bulk import appeasements_of

pytestmark = pytest.mark.integration


async def test_the_command_line_dry_runs_runs_and_reports_a_bulk(api, publish, served, tmp_path):
    # given two orders listed in a CSV file
    orders = [unique("CLI") for _ in range(2)]
    for order_id in orders:
        await given_order(api, publish, order_id, TABLE_ORDER)
    listing = tmp_path / "late.csv"
    listing.write_text("order_id\n" + "\n".join(orders) + "\n")
    runner = CliRunner()
    connection = ["--api", served, "--token", "agent-token"]
    # when a bulk of their shipping is created and run from the command line
    created = await asyncio.to_thread(runner.invoke, cli, [
        "bulk", "create", "--name", "late parcels", "--reason", "DELIVERY_DELAYED",
        "--csv", str(listing), "--shipping-in-full", "--run", *connection,
    ])
    # then it says what the dry run found, and what the run did
    assert created.exit_code == 0, created.output
    assert "2 orders; dry run: 2 would be granted, 0 held, 0 refused" in created.output
    assert "DONE: 2/2 done, 2 granted, 0 held, 0 refused" in created.output
    for order_id in orders:
        assert [a["amount"] for a in await appeasements_of(api, order_id)] == ["5.90"]
    # and the per-order results come as CSV
    bulk_id = created.output.split("bulk ", 1)[1].split(":", 1)[0]
    results = await asyncio.to_thread(
        runner.invoke, cli, ["bulk", "status", bulk_id, "--csv", *connection])
    assert results.exit_code == 0, results.output
    assert results.output.count(",GRANTED,") == 2
    # and a refused request says why
    refused = await asyncio.to_thread(runner.invoke, cli, [
        "bulk", "create", "--name", "nothing", "--reason", "DELIVERY_DELAYED",
        "--order", unique("NOWHERE"), "--amount", "shipping=5.90", "--run", *connection,
    ])
    assert refused.exit_code == 0, refused.output
    assert "1 refused (ORDER_NOT_FOUND 1)" in refused.output
