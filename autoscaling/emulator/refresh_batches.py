"""How an instance refresh replaces instances, from the AWS documentation only (pure).

The emulator's model of batch sizes, written from what AWS documents and deliberately
independent of golden's own preview (autoscaling/batches.py): if golden reads the
documentation wrongly, the release tests see AWS's behaviour, not golden's reading.

What AWS says, and what follows from it here:

- MinHealthyPercentage: "the minimum percentage of the group to keep in service,
  healthy, and ready to use ... expressed as a percentage of the desired capacity of
  the Auto Scaling group (rounded up to the nearest integer)". "Setting the minimum
  healthy percentage to 100 percent limits the rate of replacement to one instance at a
  time. In contrast, setting it to 0 percent has the effect of replacing all instances at
  the same time." Default 90. (API_RefreshPreferences; the SDK reference text.)
  -> keep = ceil(desired * min / 100) instances in service; desired - keep old
  instances may be terminated while their replacements launch.
- MaxHealthyPercentage: "the maximum percentage of the group that can be in service and
  healthy, or pending ... A larger range increases the number of instances that can be
  replaced at the same time." Default 100. -> cap = floor(desired * max / 100)
  instances at most (rounding down is this model's assumption: the documentation does
  not say, and a ceiling rounded up would exceed it); cap - desired new instances may
  launch before as many old ones terminate.
- "Explicitly setting MaxHealthyPercentage to 100 is not equivalent to omitting it. When
  MaxHealthyPercentage is explicitly set and it is mathematically impossible to replace
  instances while honoring both MinHealthyPercentage and MaxHealthyPercentage bounds
  simultaneously, Auto Scaling launches a new instance before terminating an old one
  (temporarily exceeding the desired capacity). When MaxHealthyPercentage is omitted,
  Auto Scaling terminates an instance and launches its replacement simultaneously."
  -> when both bounds leave no room, one instance moves: launched first if the maximum
  was given, terminated first if not.
- Checkpoints: "A checkpoint is reached when the number of instances replaced reaches
  the percentage threshold ... The percentage of instances replaced can be equal to or
  higher than the percentage threshold, but not lower." AWS's example (10 instances,
  checkpoints [20, 50], minimum healthy 80%): two replaced, pause, two replaced, "One
  old instance is replaced with a new one", and the refresh stops at 50%. -> a batch is
  cut short so it does not run past the next checkpoint; a checkpoint below the number
  a batch reaches is passed without its own pause ("it skips the first checkpoint (10)
  and sends a notification for the second checkpoint (40)"); a last checkpoint below
  100 ends the refresh there ("To replace only a portion of your Auto Scaling group and
  then stop completely"). (User guide: "Add checkpoints to an instance refresh".)

Percentages of checkpoints are taken of the instances the refresh replaces (with
SkipMatching, those that do not match), which is the whole group in AWS's examples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_MIN_HEALTHY = 90
DEFAULT_MAX_HEALTHY = 100


@dataclass(frozen=True)
class Batch:
    """One step of replacements: TERMINATE_FIRST old instances terminated while their
    replacements launch, LAUNCH_FIRST new instances launched before as many old ones are
    terminated (after the new ones are warmed up)."""

    terminate_first: int
    launch_first: int

    @property
    def size(self) -> int:
        return self.terminate_first + self.launch_first


def bounds(desired: int, min_healthy: int, max_healthy: int) -> tuple[int, int]:
    """(instances to keep in service, most instances at once) for DESIRED capacity."""
    keep = math.ceil(desired * min_healthy / 100)
    cap = math.floor(desired * max_healthy / 100)
    return keep, cap


def next_batch(
    desired: int,
    left: int,
    min_healthy: int = DEFAULT_MIN_HEALTHY,
    max_healthy: int | None = None,
    room_to_checkpoint: int | None = None,
) -> Batch:
    """The next batch while LEFT old instances remain (0 when none do). MAX_HEALTHY None
    means the request did not give it (default 100, and the "omitted" rule above);
    ROOM_TO_CHECKPOINT, when given, is how many replacements reach the next checkpoint."""
    limit = left if room_to_checkpoint is None else min(left, room_to_checkpoint)
    if limit <= 0:
        return Batch(0, 0)
    keep, cap = bounds(
        desired, min_healthy, DEFAULT_MAX_HEALTHY if max_healthy is None else max_healthy
    )
    down = max(0, desired - keep)
    extra = max(0, cap - desired)
    if down + extra == 0:
        return Batch(0, 1) if max_healthy is not None else Batch(1, 0)
    down = min(down, limit)
    return Batch(down, min(extra, limit - down))


def checkpoint_marks(total: int, checkpoints: Sequence[int]) -> list[int]:
    """The replaced-instance counts at which each checkpoint is reached (ascending)."""
    return sorted({math.ceil(total * c / 100) for c in checkpoints})


def room_to_checkpoint(total: int, done: int, checkpoints: Sequence[int]) -> int | None:
    """Replacements left before the next checkpoint not yet reached, None if none is."""
    upcoming = [m for m in checkpoint_marks(total, checkpoints) if m > done]
    return upcoming[0] - done if upcoming else None


def reached(total: int, done_before: int, done_now: int, checkpoints: Sequence[int]) -> list[int]:
    """The checkpoints (percentages) a step from DONE_BEFORE to DONE_NOW replacements
    reached; the refresh pauses once, for the highest of them."""
    return [c for c in checkpoints if done_before < math.ceil(total * c / 100) <= done_now]


def plan(
    desired: int,
    total: int,
    min_healthy: int = DEFAULT_MIN_HEALTHY,
    max_healthy: int | None = None,
    checkpoints: Sequence[int] = (),
) -> list[Batch]:
    """Every batch of a refresh that replaces TOTAL instances in a group of DESIRED,
    up to the last checkpoint (a partial refresh stops there)."""
    end = total
    if checkpoints and checkpoints[-1] < 100:
        end = math.ceil(total * checkpoints[-1] / 100)
    out: list[Batch] = []
    done = 0
    while done < end:  # each batch moves at least one instance: bounded by TOTAL
        batch = next_batch(
            desired,
            end - done,
            min_healthy,
            max_healthy,
            room_to_checkpoint(total, done, checkpoints),
        )
        if batch.size == 0:
            break
        out.append(batch)
        done += batch.size
    return out
