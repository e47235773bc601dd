"""`make bench`: every benchmark (or those named) on fresh embedded PostgreSQL and broker.

Progress goes to stderr; the figures are printed as JSON and written to BENCH_OUT
(default .run/bench.json) with the date and the machine.

    python -m bench [projection] [grants] [commands] [soak]
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import uvloop

from bench.commands import command_latency
from bench.grants import grant_latency
from bench.harness import embedded_parts, say
from bench.projection import projection_throughput
from bench.soak import memory_soak

BENCHMARKS = {
    "projection": projection_throughput,
    "grants": grant_latency,
    "commands": command_latency,
    "soak": memory_soak,
}


def machine() -> dict[str, Any]:
    frequency = psutil.cpu_freq()
    return {
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_mhz": round(frequency.max or frequency.current) if frequency else None,
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "python": platform.python_version(),
        "system": platform.platform(terse=True),
    }


async def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}",
              file=sys.stderr)
        return 2
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
    }
    for name in names or list(BENCHMARKS):
        say(f"{name}: starting embedded PostgreSQL and broker")
        started = time.perf_counter()
        async with embedded_parts() as settings:
            results[name] = await BENCHMARKS[name](settings)
        say(f"{name}: done in {time.perf_counter() - started:.0f} s")
    text = json.dumps(results, indent=2)
    print(text)
    out = Path(os.environ.get("BENCH_OUT", ".run/bench.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    say(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    # the load generator on uvloop too: the less CPU it takes, the less it takes from the service
    sys.exit(uvloop.run(main(sys.argv[1:])))
