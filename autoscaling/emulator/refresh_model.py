"""One instance refresh as the emulator keeps it, and its description with AWS's field
names (DescribeInstanceRefreshes). The state machine that moves it is
emulator/instance_refresh.py."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any


def now_utc() -> datetime:
    return datetime.now(timezone.utc)



class Refresh:
    def __init__(self, group, preferences: dict, desired: dict | None, strategy: str):
        self.id = str(uuid.uuid4())
        self.group_name = group.name
        self.status = "Pending"
        self.status_reason = "Waiting for the instance refresh to start."
        self.start_time = now_utc()
        self.end_time: datetime | None = None
        self.preferences = preferences
        self.desired_spec = desired
        self.strategy = strategy
        template = group.ec2_launch_template
        self.original_template_id = template.id if template else None
        self.original_version = (
            template.get_version(group.launch_template_version).number if template else None
        )
        self.desired_template_id: str | None = None
        self.desired_version: int | None = None
        self.to_replace: list[str] = []  # old instances not replaced yet
        self.total = 0
        self.done = 0  # instances replaced and warmed up
        self.last_batch: list[str] = []  # the new instances of the latest batch
        self.retire: list[str] = []  # old instances to terminate once that batch warmed up
        self.warm_until: float | None = None
        self.checkpoint_until: float | None = None
        self.checkpoints_done: set[int] = set()
        self.bake_started: float | None = None
        self.rollback: dict | None = None
        self.rollback_total = 0
        self.rollback_left: list[str] = []
        self.last_step = 0.0

    # -- serialisation with AWS's field names ---------------------------------------------
    def percentage(self) -> int:
        if self.status == "Successful":
            return 100
        if not self.total:
            return 0 if self.status == "Pending" else 100
        return int(100 * self.done / self.total)

    def left(self) -> int:
        return 0 if self.status == "Successful" else max(0, self.total - self.done)

    def describe(self) -> dict:
        out: dict[str, Any] = {
            "InstanceRefreshId": self.id,
            "AutoScalingGroupName": self.group_name,
            "Status": self.status,
            "StatusReason": self.status_reason,
            "StartTime": self.start_time,
            "PercentageComplete": self.percentage(),
            "InstancesToUpdate": self.left(),
            "ProgressDetails": {
                "LivePoolProgress": {
                    "PercentageComplete": self.percentage(),
                    "InstancesToUpdate": self.left(),
                }
            },
            "Preferences": self.preferences,
            "Strategy": self.strategy,
        }
        if self.end_time:
            out["EndTime"] = self.end_time
        if self.desired_spec:
            out["DesiredConfiguration"] = self.desired_spec
        if self.rollback:
            done = self.rollback_total - len(self.rollback_left)
            pct = int(100 * done / self.rollback_total) if self.rollback_total else 100
            out["RollbackDetails"] = {
                **self.rollback,
                "PercentageCompleteOnRollback": pct,
                "InstancesToUpdateOnRollback": len(self.rollback_left),
                "ProgressDetailsOnRollback": {
                    "LivePoolProgress": {
                        "PercentageComplete": pct,
                        "InstancesToUpdate": len(self.rollback_left),
                    }
                },
            }
        return out
