"""Exact splits in minor units: largest remainder, ties by line order."""

from __future__ import annotations

from collections.abc import Sequence


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` minor units by `weights`; the parts always sum to `total`.

    Each part is floor(total * w / W) plus at most one unit, given to the largest
    remainders first and, among equal remainders, to the earliest line. When
    total <= W no part exceeds its weight, so weights can be the creditable amounts.
    """
    if total < 0 or any(weight < 0 for weight in weights):
        raise ValueError("total and weights must not be negative")
    whole = sum(weights)
    if total == 0:
        return [0] * len(weights)
    if whole == 0:
        raise ValueError("cannot split an amount over zero weights")
    parts = [total * weight // whole for weight in weights]
    remainders = [total * weight % whole for weight in weights]
    leftover = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda index: (-remainders[index], index))
    for index in by_remainder[:leftover]:
        parts[index] += 1
    return parts
