"""How many instances an instance refresh replaces at a time.

AWS sizes a batch from MinHealthyPercentage and MaxHealthyPercentage: with max 100 it may
take down (100 - min)% of the group at once; above 100 it may also launch (max - 100)%
extra before terminating. Either way at least one instance moves per batch, otherwise a
small group with min 90% would never progress. The emulator and `golden release --dry-run`
share this arithmetic so the preview matches what the emulator does.
"""

from __future__ import annotations

import math


def batch_size(desired: int, min_healthy: int, max_healthy: int = 100) -> int:
    if desired <= 0:
        return 0
    may_be_down = desired - math.ceil(desired * min_healthy / 100)
    may_be_extra = math.floor(desired * max_healthy / 100) - desired if max_healthy > 100 else 0
    return max(1, min(desired, may_be_down + may_be_extra))


def batches(desired: int, to_replace: int, min_healthy: int, max_healthy: int = 100) -> list[int]:
    """Sizes of the successive batches that replace ``to_replace`` instances."""
    size = batch_size(desired, min_healthy, max_healthy)
    out: list[int] = []
    left = to_replace
    while left > 0 and size > 0:
        out.append(min(size, left))
        left -= size
    return out
