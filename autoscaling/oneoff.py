"""AWS adapter for a one-off task instance (a release's migration, autoscaling/migration.py):
RunInstances, waiting until it runs and its SSM agent is online, one SSM Run Command
followed to its end, TerminateInstances. Thin calls that hand plain dicts back, in the
pattern of the hotfix fan-out's adapter (golden/hotfix/fleet.py), which the release
engine may not import (it sits below the hotfix job); every decision is in
autoscaling/migration.py.

Every wait is bounded in time (the caller's timeout, measured with Timing.clock) and in
count (timeout / Timing.min_interval polls); the interval grows from Timing.min_interval
to Timing.max_interval while nothing changes, as the refresh wait does."""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError
from golden.core.errors import OperationFailed

from autoscaling.aws import Clients
from autoscaling.refresh import Timing, next_interval

DOCUMENT = "AWS-RunShellScript"
# SendCommand's TimeoutSeconds: how long the command may wait to be delivered (AWS:
# 30-2592000). The agent is online when it is sent, so delivery is quick.
DELIVERY_TIMEOUT_SECONDS = 600
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")
# Instance states from which an instance never comes to run (DescribeInstances).
GONE = ("shutting-down", "terminated", "stopping", "stopped")


def poll_until(
    check: Callable[[], tuple[bool, object]], timeout: float, timing: Timing
) -> tuple[bool, object]:
    """Call CHECK (returns (done, value)) until done or TIMEOUT seconds passed; returns
    the last (done, value). Sleeps with Timing's growing interval between calls; at most
    timeout / min_interval + 2 calls."""
    deadline = timing.clock() + timeout
    interval = timing.min_interval
    last = None
    done, value = False, None
    for _ in range(int(timeout / max(timing.min_interval, 1e-3)) + 2):
        done, value = check()
        if done:
            break
        interval = next_interval(interval, value != last, timing)
        last = value
        if timing.clock() + interval > deadline:
            break
        timing.sleep(interval)
    return done, value


class OneOff:
    def __init__(self, clients: Clients):
        self.c = clients

    def launch(self, request: dict) -> str:
        """RunInstances with REQUEST (migration.launch_request); the instance id."""
        return self.c.ec2.run_instances(**request)["Instances"][0]["InstanceId"]

    def _state(self, instance_id: str) -> tuple[str | None, str]:
        try:
            reservations = self.c.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except ClientError as exc:
            # Right after RunInstances EC2 may not know the id yet (eventual consistency).
            if exc.response.get("Error", {}).get("Code") == "InvalidInstanceID.NotFound":
                return None, ""
            raise
        found = [i for r in reservations for i in r["Instances"]]
        if not found:
            return None, ""
        state = found[0].get("State", {}).get("Name")
        return state, (found[0].get("StateReason") or {}).get("Message", "")

    def _ping(self, instance_id: str) -> str | None:
        """The SSM agent's PingStatus (Online, ConnectionLost, Inactive), None while the
        instance is not registered (DescribeInstanceInformation does not list it)."""
        listed = self.c.ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
        ).get("InstanceInformationList", [])
        return listed[0].get("PingStatus") if listed else None

    def wait_managed(self, instance_id: str, timeout: float, timing: Timing) -> None:
        """Until the instance runs and its SSM agent is Online. Raises OperationFailed
        when it stops or ends on its way up, or at TIMEOUT seconds."""

        def check() -> tuple[bool, object]:
            state, reason = self._state(instance_id)
            if state in GONE:
                raise OperationFailed(
                    f"instance {instance_id} went {state} before it could run the migration"
                    + (f": {reason}" if reason else "")
                )
            if state != "running":
                return False, ("state", state)
            ping = self._ping(instance_id)
            return ping == "Online", ("ssm", ping)

        done, last = poll_until(check, timeout, timing)
        if not done:
            raise OperationFailed(
                f"instance {instance_id} did not become SSM-managed within {timeout:.0f}s "
                f"(last: {last}); check its instance profile (AmazonSSMManagedInstanceCore) "
                f"and that its subnet reaches SSM"
            )

    def run_script(
        self,
        instance_id: str,
        commands: list[str],
        *,
        comment: str,
        execution_timeout: int,
        wait: float,
        timing: Timing,
    ) -> tuple[dict, bool]:
        """Send COMMANDS (AWS-RunShellScript, executionTimeout EXECUTION_TIMEOUT seconds)
        to the instance and follow it for at most WAIT seconds. Returns the last
        GetCommandInvocation answer and whether it ended; one that did not end is
        cancelled (best effort: the instance is terminated next anyway)."""
        command_id = self.c.ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=DOCUMENT,
            Comment=comment[:100],
            Parameters={"commands": commands, "executionTimeout": [str(execution_timeout)]},
            TimeoutSeconds=DELIVERY_TIMEOUT_SECONDS,
        )["Command"]["CommandId"]

        def check() -> tuple[bool, object]:
            try:
                answer = self.c.ssm.get_command_invocation(
                    CommandId=command_id, InstanceId=instance_id
                )
            except ClientError as exc:
                # Documented right after SendCommand: the invocation is not there yet.
                if exc.response.get("Error", {}).get("Code") == "InvocationDoesNotExist":
                    return False, {}
                raise
            return answer.get("Status") in TERMINAL, answer

        done, answer = poll_until(check, wait, timing)
        if not done:
            try:
                self.c.ssm.cancel_command(CommandId=command_id, InstanceIds=[instance_id])
            except ClientError:
                pass  # the instance is terminated next; that ends the command too
        return dict(answer or {}), done

    def terminate(self, instance_id: str) -> str | None:
        """TerminateInstances; None when done, else what failed and the command that
        finishes it by hand. Never raises: it runs in a ``finally``."""
        try:
            self.c.ec2.terminate_instances(InstanceIds=[instance_id])
        except (ClientError, BotoCoreError) as exc:
            code = (
                exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else exc
            )
            return (
                f"terminating {instance_id} failed ({code}); finish it with: "
                f"aws ec2 terminate-instances --instance-ids {instance_id}"
            )
        return None
