"""Summarise a py-spy raw profile: `python -m bench.profile FILE [N]` prints the functions
with the largest share of samples, inclusive (anywhere on the stack) and on top."""

from __future__ import annotations

import sys
from collections import Counter


def summarise(path: str, top: int = 25) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    with open(path) as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            samples = int(count)
            total += samples
            frames = [frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0] + ")"
                      if " (" in frame else frame for frame in stack.split(";")]
            for frame in set(frames):
                inclusive[frame] += samples
            own[frames[-1]] += samples
    rows = [f"{total} samples", "inclusive:"]
    rows += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    rows.append("on top:")
    rows += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(rows)


if __name__ == "__main__":
    print(summarise(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25))
