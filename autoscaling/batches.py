"""How many instances an instance refresh replaces at a time: golden's `--dry-run` preview.

AWS sizes a batch from MinHealthyPercentage and MaxHealthyPercentage: with max 100 it may
take down (100 - min)% of the group at once; above 100 it may also launch (max - 100)%
extra before terminating. When the two bounds leave no room, one instance still moves per
batch (MaxHealthyPercentage "explicitly set ... Auto Scaling launches a new instance before
terminating an old one", API_RefreshPreferences). A batch never runs past the next
checkpoint: "The percentage of instances replaced can be equal to or higher than the
percentage threshold, but not lower", and AWS's own example replaces 2, 2, then 1 of 10
instances to stop at a 50% checkpoint (user guide, "Add checkpoints to an instance
refresh").

This is golden's reading of the documentation for the preview only; the AWS emulator
models refreshes from the documentation on its own (autoscaling/emulator/refresh_batches.py)
so the release tests can catch a wrong reading here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def batch_size(desired: int, min_healthy: int, max_healthy: int = 100) -> int:
    """Instances replaced at once in a group of DESIRED (0 for an empty group)."""
    if desired <= 0:
        return 0
    may_be_down = desired - math.ceil(desired * min_healthy / 100)
    may_be_extra = math.floor(desired * max_healthy / 100) - desired if max_healthy > 100 else 0
    return max(1, min(desired, may_be_down + may_be_extra))


def batches(
    desired: int,
    to_replace: int,
    min_healthy: int,
    max_healthy: int = 100,
    checkpoints: Sequence[int] = (),
) -> list[int]:
    """Sizes of the successive batches that replace ``to_replace`` instances, each cut
    short at the next checkpoint (percentages of ``to_replace``) it would run past."""
    size = batch_size(desired, min_healthy, max_healthy)
    marks = sorted({math.ceil(to_replace * c / 100) for c in checkpoints})
    out: list[int] = []
    done = 0
    while done < to_replace and size > 0:
        step = min(size, to_replace - done)
        upcoming = next((m for m in marks if m > done), None)
        if upcoming is not None:
            step = min(step, upcoming - done)
        out.append(step)
        done += step
    return out
