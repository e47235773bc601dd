"""`make bench`: every benchmark, on the embedded PostgreSQL and broker, printed as JSON."""

from __future__ import annotations

import asyncio
import json
import sys

from bench.harness import embedded_parts
from bench.projection import projection_throughput


async def main() -> None:
    async with embedded_parts() as settings:
        result = await projection_throughput(settings)
    print(json.dumps({"projection": result}, indent=2))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
