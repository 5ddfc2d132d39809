"""Bounded retries for AWS's documented transient errors (eventual consistency).

EC2 is eventually consistent: "if you run a command to modify or describe the resource
that you just created, its ID might not have propagated throughout the system, and you
will get an error responding that the resource does not exist"; AWS's advice is to retry
"using an exponential backoff algorithm", starting with a couple of seconds
(https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html). The same
holds the other way round: DeleteSnapshot right after DeregisterImage can still answer
InvalidSnapshot.InUse.

`call` retries ONE call on the error codes its caller names and nothing else: botocore's
own retries (aws.py) cover throttling and 5xx, never these codes. The back-off is
bounded in count and time (Backoff: by default 6 tries, waits 2, 4, 8, 16, 30 s = at most
60 s of waiting) and its sleep is a parameter, so tests run it without sleeping. The
exception of the last try is raised unchanged; callers that work through a list catch it
per item and report what they could not finish (golden never raises on the first of many).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

# The eventual-consistency codes golden retries, by the call that meets them.
AMI_NOT_VISIBLE = ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable")
SNAPSHOT_NOT_VISIBLE = ("InvalidSnapshot.NotFound",)
SNAPSHOT_STILL_IN_USE = ("InvalidSnapshot.InUse",)
TEMPLATE_VERSION_NOT_VISIBLE = (
    "InvalidLaunchTemplateId.VersionNotFound",
    "InvalidLaunchTemplateId.NotFound",
    "InvalidLaunchTemplateName.NotFoundException",
)
# Auto Scaling: "You already have a pending update to an Amazon EC2 Auto Scaling resource"
# (StartInstanceRefresh, UpdateAutoScalingGroup, CreateOrUpdateTags ...).
RESOURCE_CONTENTION = ("ResourceContention",)


@dataclass(frozen=True)
class Backoff:
    """How often and how long to retry: ``attempts`` tries in all, waiting ``first``
    seconds after the first failure, then ``factor`` times longer each time, never more
    than ``cap`` seconds at once. ``sleep`` is time.sleep unless a test injects its own."""

    attempts: int = 6
    first: float = 2.0
    factor: float = 2.0
    cap: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def delays(self) -> list[float]:
        """The waits between tries, in seconds (``attempts - 1`` of them)."""
        out, delay = [], self.first
        for _ in range(max(0, self.attempts - 1)):
            out.append(min(delay, self.cap))
            delay *= self.factor
        return out

    def budget(self) -> float:
        """The longest total wait, in seconds."""
        return sum(self.delays())


DEFAULT = Backoff()


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (None for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    return (response.get("Error") or {}).get("Code")


def call(
    func: Callable[[], T],
    transient: Collection[str],
    backoff: Backoff | None = None,
    on_retry: Callable[[str, float], None] | None = None,
) -> T:
    """Return ``func()``, retrying while it raises an AWS error whose code is in
    ``transient``. ``on_retry(code, seconds)`` is told before each wait. Raises the last
    error when the tries are used up, and any other error at once."""
    backoff = backoff or DEFAULT
    delays = backoff.delays()
    for attempt in range(len(delays) + 1):
        try:
            return func()
        except Exception as exc:
            code = error_code(exc)
            if code not in transient or attempt >= len(delays):
                raise
            if on_retry:
                on_retry(code, delays[attempt])
            backoff.sleep(delays[attempt])
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def describe(
    func: Callable[[], T | None],
    gone: Collection[str],
    backoff: Backoff | None = None,
) -> T | None:
    """Return ``func()`` once it finds something (not None) and does not raise an error
    in ``gone`` (the "does not exist yet" codes); None when it never did within the
    back-off. Other errors are raised at once."""
    backoff = backoff or DEFAULT
    delays = backoff.delays()
    for attempt in range(len(delays) + 1):
        try:
            found = func()
        except Exception as exc:
            if error_code(exc) not in gone:
                raise
            found = None
        if found is not None:
            return found
        if attempt < len(delays):
            backoff.sleep(delays[attempt])
    return None
