"""A runtime for the emulator that only records: the lifecycle calls go to a JSON-lines
file ($FAKE_RUNTIME_LOG), target health comes from a JSON file ($FAKE_RUNTIME_HEALTH),
and a Run Command script "runs" by answering with its own text (exit code from a line
`exit N`, else 0). Loaded by the emulator with --runtime tests.rehearsal.fake_runtime:factory."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path


class Recorder:
    def __init__(self):
        self.log = Path(os.environ["FAKE_RUNTIME_LOG"])
        self.health = Path(os.environ["FAKE_RUNTIME_HEALTH"])

    def _write(self, **entry):
        with self.log.open("a") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")

    def launch(self, spec):
        self._write(call="launch", **spec.__dict__)
        return "10.9.9.9"

    def terminate(self, instance_id, drain_seconds):
        self._write(call="terminate", instance=instance_id, drain=drain_seconds)

    def register_target(self, arn, instance_id, port):
        self._write(call="register", arn=arn, instance=instance_id, port=port)

    def deregister_target(self, arn, instance_id, delay_seconds):
        self._write(call="deregister", arn=arn, instance=instance_id, delay=delay_seconds)

    def target_health(self, arn):
        if not self.health.exists():
            return {}
        return {iid: {"State": state, "Reason": "Test.Reason", "Description": "from test"}
                for iid, state in json.loads(self.health.read_text()).items()}  # fmt: skip

    def run_command(self, instance_id, script, timeout):
        self._write(call="run_command", instance=instance_id, script=script, timeout=timeout)
        match = re.search(r"^exit (\d+)$", script, re.M)
        return (int(match.group(1)) if match else 0), f"ran on {instance_id}", ""


def factory():
    return Recorder()
