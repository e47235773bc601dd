"""`make bench`: every benchmark (or those named: projection, latency) on the embedded
PostgreSQL and broker, printed as JSON."""

from __future__ import annotations

import asyncio
import json
import sys

from bench.harness import embedded_parts
from bench.latency import grant_to_event_latency
from bench.projection import projection_throughput

BENCHMARKS = {"projection": projection_throughput, "latency": grant_to_event_latency}


async def main(names: list[str]) -> None:
    results = {}
    for name in names or list(BENCHMARKS):
        async with embedded_parts() as settings:
            results[name] = await BENCHMARKS[name](settings)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
