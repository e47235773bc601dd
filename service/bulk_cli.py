"""Bulk appeasements from the command line, over the HTTP API:
`python -m service bulk create | run ID | status ID | cancel ID`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.settings import Settings

bulk = typer.Typer(no_args_is_help=True, help="Appease many orders at once: dry run, then run.")
console = Console()

API = typer.Option("http://127.0.0.1:8080", envvar="APPEASEMENT_API", help="The service")
TOKEN = typer.Option(
    None, envvar="APPEASEMENT_TOKEN",
    help="Bearer token; default: the agent's of the tokens file",
)


def _client(api: str, token: str | None) -> httpx.Client:
    if token is None:
        from service.adapters.auth import load_tokens

        settings = Settings()
        path = settings.auth_tokens_file or settings.run_dir / "tokens.toml"
        known = load_tokens(path) if path.exists() else {}
        token = next((t for t, who in known.items() if who.role == "agent"), "")
    return httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=300)


def _answer(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        body = response.json() if response.content else {}
        typer.echo(f"{response.status_code} {body.get('code', '')}: {body.get('detail', '')}",
                   err=True)
        for error in body.get("errors", []):
            typer.echo(f"  {error['field']}: {error['message']}", err=True)
        raise typer.Exit(1)
    return dict(response.json())


@bulk.command()
def create(
    name: str = typer.Option(..., help="What the bulk is for"),
    reason: str = typer.Option(..., help="A reason code of the policy"),
    comment: str = typer.Option(None),
    order: list[str] = typer.Option(None, help="An order id (repeat it)"),
    csv: Path = typer.Option(None, help="A CSV file: order ids in its first column"),
    carrier: str = typer.Option(None, help="Orders this carrier shipped ..."),
    shipped_from: str = typer.Option(None, help="... at or after this moment (ISO 8601)"),
    shipped_to: str = typer.Option(None, help="... and before this one"),
    amount: list[str] = typer.Option(None, help="bucket=amount, e.g. shipping=5.90 (repeat)"),
    percent: str = typer.Option(None, help="Of each order's creditable product value"),
    include_shipping: bool = typer.Option(False, help="With --percent: of shipping too"),
    shipping_in_full: bool = typer.Option(False, help="Each order's creditable shipping"),
    run_now: bool = typer.Option(False, "--run", help="Run it after the dry run"),
    api: str = API,
    token: str = TOKEN,
) -> None:
    """Select orders and dry-run the request on each (nothing granted); --run to grant."""
    selection: dict[str, Any]
    if order:
        selection = {"order_ids": order}
    elif csv is not None:
        selection = {"csv": csv.read_text()}
    else:
        selection = {"carrier": carrier, "shipped_from": shipped_from, "shipped_to": shipped_to}
    shape: dict[str, Any] = {}
    if amount:
        shape["amounts"] = dict(item.split("=", 1) for item in amount)
    if percent is not None:
        shape.update(percent=percent, include_shipping=include_shipping)
    if shipping_in_full:
        shape["shipping_in_full"] = True
    with _client(api, token) as client:
        body = _answer(client.post("/v1/bulk-appeasements", json={
            "name": name, "reason": reason, "comment": comment, "request": shape,
            "selection": selection,
        }))
        dry = body["dry_run"]
        typer.echo(f"bulk {body['id']}: {len(body['items'])} orders; dry run: "
                   f"{dry['would_grant']} would be granted, {dry['would_hold']} held, "
                   f"{dry['would_refuse']} refused "
                   f"{_codes(dry['refused_by_code'])}; amount "
                   f"{', '.join(f'{v} {k}' for k, v in dry['amount_by_currency'].items()) or '0'}")
        if run_now:
            _run(client, body["id"])
        else:
            typer.echo(f"run it: python -m service bulk run {body['id']}")


@bulk.command()
def run(bulk_id: str, api: str = API, token: str = TOKEN) -> None:
    """Grant one appeasement per order, with a progress bar until it is done."""
    with _client(api, token) as client:
        _run(client, bulk_id)


@bulk.command()
def status(
    bulk_id: str, csv: bool = typer.Option(False, help="Per-order results as CSV"),
    api: str = API, token: str = TOKEN,
) -> None:
    """Progress, and each order's result."""
    with _client(api, token) as client:
        if csv:
            response = client.get(f"/v1/bulk-appeasements/{bulk_id}", params={"format": "csv"})
            if response.status_code >= 400:
                _answer(response)
            typer.echo(response.text, nl=False)
            return
        body = _answer(client.get(f"/v1/bulk-appeasements/{bulk_id}"))
    table = Table("order", "status", "appeasement", "amount", "code")
    for item in body["items"]:
        table.add_row(item["order_id"], item["status"], item["appeasement_id"] or "",
                      " ".join(filter(None, (item["amount"], item["currency"]))),
                      item["code"] or "")
    console.print(table)
    _summary(body)


@bulk.command()
def cancel(bulk_id: str, api: str = API, token: str = TOKEN) -> None:
    """Stop it: orders not granted yet never will be."""
    with _client(api, token) as client:
        _summary(_answer(client.post(f"/v1/bulk-appeasements/{bulk_id}/cancel")))


def _run(client: httpx.Client, bulk_id: str) -> None:
    body = _answer(client.post(f"/v1/bulk-appeasements/{bulk_id}/run"))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"bulk {bulk_id}", total=body["progress"]["total"])
        while True:
            counts = body["progress"]
            progress.update(task, completed=counts["done"] + counts["cancelled"])
            if body["status"] in ("DONE", "CANCELLED"):
                break
            time.sleep(0.5)
            body = _answer(client.get(f"/v1/bulk-appeasements/{bulk_id}"))
    _summary(body)


def _summary(body: dict[str, Any]) -> None:
    counts = body["progress"]
    typer.echo(f"bulk {body['id']} {body['status']}: {counts['done']}/{counts['total']} done, "
               f"{counts['granted']} granted, {counts['held']} held, {counts['refused']} "
               f"refused {_codes(counts['refused_by_code'])}, {counts['cancelled']} cancelled")


def _codes(codes: dict[str, int]) -> str:
    return "(" + ", ".join(f"{code} {n}" for code, n in codes.items()) + ")" if codes else ""
