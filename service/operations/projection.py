"""`python -m service projection rebuild`: the OMS projection rebuilt from the consumed topics
beside the live one, then swapped in (see service_layer/rebuild.py)."""

from __future__ import annotations

import asyncio

import typer

from service.operations.common import progress, required, settings
from service.service_layer.rebuild import PREVIOUS, SHADOW, Rebuild, RebuildRefused, Report

projection = typer.Typer(no_args_is_help=True, help="The projection of the OMS's events.")


@projection.command()
def rebuild(
    swap: bool = typer.Option(
        True, "--swap/--no-swap",
        help=f"Swap the rebuilt tables in; --no-swap only builds them (schema {SHADOW}) and "
        "says how they differ",
    ),
    lock_timeout: float = typer.Option(
        10.0, help="Seconds the swap waits for the live tables' locks before it tries again"
    ),
) -> None:
    """Rebuild the projection from the beginning of every consumed topic into fresh tables
    while the service keeps serving, catch up, then swap them in one transaction.

    Appeasements are not rebuilt (they are this service's own facts): only what the OMS
    told us. The previous tables are kept in the schema projection_previous.
    """
    current = settings()
    job = Rebuild(
        required(current.database_url, "DATABASE_URL"),
        required(current.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS"),
        current.projection_rules(), dead_letter_topic=current.dead_letter_topic,
        security=current.kafka_security(), lock_timeout=lock_timeout,
    )

    async def main() -> Report:
        try:
            await job.prepare()
            with progress() as bar:
                reading = bar.add_task("reading the consumed topics", total=await job.pending())
                await job.replay(lambda n: bar.advance(reading, n))
                catching = bar.add_task("catching up while serving", total=await job.pending())
                await job.replay(lambda n: bar.advance(catching, n))
                await job.compare()
                if swap:
                    locked = bar.add_task("catching up under the lock, swapping", total=None)
                    await job.swap(advance=lambda n: bar.advance(locked, n))
                    bar.update(locked, total=1, completed=1)
            return job.report
        finally:
            await job.close()

    try:
        report = asyncio.run(main())
    except RebuildRefused as error:
        typer.echo(f"not rebuilt: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"read {report.records} records in {report.passes} passes")
    if report.first_offsets:
        held = ", ".join(f"{where} from offset {at}" for where, at in report.first_offsets.items())
        typer.echo(f"warning: the topics no longer hold their first records: {held}", err=True)
    typer.echo(
        f"live: {report.live_orders} orders; rebuilt: {report.rebuilt_orders} orders; only live: "
        f"{report.only_live}; only rebuilt: {report.only_rebuilt}; orders whose lines, refunds, "
        f"returns or shipments differ: {report.different}"
    )
    if report.swapped:
        typer.echo(f"swapped: the rebuilt tables are live; the previous ones are kept in the "
                   f"schema {PREVIOUS}")
    else:
        typer.echo(f"not swapped: the rebuilt tables are in the schema {SHADOW}")
