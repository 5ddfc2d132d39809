"""SSM Run Command for the emulator: SendCommand, ListCommands, ListCommandInvocations,
GetCommandInvocation and CancelCommand, replacing moto's model.

Moto's SendCommand targets every instance of the region whatever InstanceIds says, reports
Success at once and has no ListCommandInvocations. This model follows the AWS documentation
("Understanding command statuses", "Run commands at scale"):

- targets: InstanceIds (up to 50, each a running instance, else InvalidInstanceId) or
  Targets (``InstanceIds``, ``tag:KEY``, ``tag-key``; several targets must all match);
  never both;
- rate control: at most MaxConcurrency invocations in progress ("N" or "N%" of the
  targets, rounded up, at least 1); when more than MaxErrors invocations ended Failed or
  Execution Timed Out ("N", or "N%" of the targets rounded down), no further invocation
  starts: the ones not yet sent end Cancelled and the command Failed. Invocations already
  running finish. Undeliverable and Delivery Timed Out do not count as errors;
- per instance outcomes come from rules a test sets (:mod:`ssm_outcomes`): Success,
  Failed (with a response code), Undeliverable, TimedOut (execution), DeliveryTimedOut,
  with stdout and stderr. Without a rule an invocation succeeds with empty output;
- invocation Status / StatusDetails: Pending/Pending, InProgress/In Progress,
  Success/Success, Failed/Failed, Failed/Undeliverable, TimedOut/Execution Timed Out,
  TimedOut/Delivery Timed Out, Cancelled/Cancelled; the command ends Success (every
  delivered invocation succeeded), Failed (more errors than MaxErrors, or nothing could be
  delivered), Failed/Incomplete (some errors within MaxErrors) or Cancelled;
- output: GetCommandInvocation gives up to 24,000 characters of stdout and 8,000 of stderr,
  ListCommandInvocations with Details=true up to 2,500 characters per plugin, as AWS does.

Time: a command moves one step per read call that names it (ListCommands,
ListCommandInvocations, GetCommandInvocation), after the reply is built, and at most once
per ``step_seconds`` (emulator.config). In a step, running invocations whose outcome says
so finish, the error budget is checked, then pending ones start up to MaxConcurrency.
Each invocation records the step it started and ended at, so a test can check the rate
control (GET /moto-api/golden/ssm).

State lives on moto's SSM backend object, so POST /moto-api/reset clears it.
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from moto.core.exceptions import ServiceException
from moto.ec2.models import ec2_backends

from autoscaling.emulator import config, runtime_exec, ssm_outcomes

_lock = threading.RLock()
_CONCURRENCY = re.compile(r"^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$")
_ERRORS = re.compile(r"^([1-9][0-9]*|0|[1-9][0-9]%|[0-9]%|100%)$")
MAX_INSTANCE_IDS = 50
STDOUT_LIMIT = 24000
STDERR_LIMIT = 8000
DETAILS_LIMIT = 2500
DOCUMENTS = ("AWS-RunShellScript",)
PLUGIN = "aws:runShellScript"
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")
# Outcomes that never reach the agent -> the invocation's Status and StatusDetails.
_UNDELIVERED = {
    "Undeliverable": ("Failed", "Undeliverable"),
    "DeliveryTimedOut": ("TimedOut", "Delivery Timed Out"),
}


class InvalidInstanceId(ServiceException):
    def __init__(self, message: str):
        super().__init__("InvalidInstanceId", message)


class InvalidCommandId(ServiceException):
    def __init__(self) -> None:
        super().__init__("InvalidCommandId", "Invalid command id.")


class InvocationDoesNotExist(ServiceException):
    def __init__(self) -> None:
        super().__init__("InvocationDoesNotExist", "The invocation does not exist.")


class InvalidParameters(ServiceException):
    def __init__(self, message: str):
        super().__init__("InvalidParameters", message)


class InvalidDocument(ServiceException):
    def __init__(self, message: str):
        super().__init__("InvalidDocument", message)


class ValidationException(ServiceException):
    def __init__(self, message: str):
        super().__init__("ValidationException", message)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def concurrency_limit(value: str, targets: int) -> int:
    """MaxConcurrency as a number of instances (a percentage is rounded up, at least 1)."""
    if value.endswith("%"):
        return max(1, math.ceil(int(value[:-1]) * targets / 100))
    return int(value)


def error_budget(value: str, targets: int) -> int:
    """How many errors are allowed; one more stops the command (a percentage rounds down)."""
    if value.endswith("%"):
        return int(value[:-1]) * targets // 100
    return int(value)


class Invocation:
    def __init__(self, command: Command, instance_id: str, instance_name: str):
        self.command = command
        self.instance_id = instance_id
        self.instance_name = instance_name
        self.status = "Pending"
        self.details = "Pending"
        self.response_code = -1
        self.stdout = ""
        self.stderr = ""
        self.started: datetime | None = None
        self.ended: datetime | None = None
        self.started_step: int | None = None
        self.ended_step: int | None = None
        self.steps_left = 0
        self.outcome: dict | None = None
        # A real run inside the instance, when a runtime executes commands (see _start).
        self.execution: runtime_exec.Execution | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def end(self, status: str, details: str, step: int) -> None:
        self.status, self.details = status, details
        self.ended = _now()
        self.ended_step = step

    def _elapsed(self) -> str:
        if not self.started:
            return ""
        seconds = ((self.ended or _now()) - self.started).total_seconds()
        return f"PT{seconds:.3f}S"

    def listing(self, details: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "CommandId": self.command.id,
            "InstanceId": self.instance_id,
            "InstanceName": self.instance_name,
            "Comment": self.command.comment,
            "DocumentName": self.command.document,
            "DocumentVersion": "$DEFAULT",
            "RequestedDateTime": self.command.requested,
            "Status": self.status,
            "StatusDetails": self.details,
            "StandardOutputUrl": "",
            "StandardErrorUrl": "",
            "CommandPlugins": [],
        }
        if details:
            plugin: dict[str, Any] = {
                "Name": PLUGIN,
                "Status": self.status if self.status != "Cancelled" else "Cancelled",
                "StatusDetails": self.details,
                "ResponseCode": self.response_code,
                "Output": (self.stdout + self.stderr)[:DETAILS_LIMIT],
                "StandardOutputUrl": "",
                "StandardErrorUrl": "",
            }
            if self.started:
                plugin["ResponseStartDateTime"] = self.started
            if self.ended:
                plugin["ResponseFinishDateTime"] = self.ended
            out["CommandPlugins"] = [plugin]
        return out

    def detail(self) -> dict[str, Any]:
        return {
            "CommandId": self.command.id,
            "InstanceId": self.instance_id,
            "Comment": self.command.comment,
            "DocumentName": self.command.document,
            "DocumentVersion": "$DEFAULT",
            "PluginName": PLUGIN,
            "ResponseCode": self.response_code,
            "ExecutionStartDateTime": self.started.isoformat() if self.started else "",
            "ExecutionElapsedTime": self._elapsed(),
            "ExecutionEndDateTime": self.ended.isoformat() if self.ended else "",
            "Status": self.status,
            "StatusDetails": self.details,
            "StandardOutputContent": self.stdout[:STDOUT_LIMIT],
            "StandardOutputUrl": "",
            "StandardErrorContent": self.stderr[:STDERR_LIMIT],
            "StandardErrorUrl": "",
        }

    def timeline(self) -> dict[str, Any]:
        return {
            "InstanceId": self.instance_id,
            "Status": self.status,
            "StatusDetails": self.details,
            "started_step": self.started_step,
            "ended_step": self.ended_step,
        }


class Command:
    def __init__(self, params: dict, instances: list[tuple[str, str]], region: str):
        self.id = str(uuid.uuid4())
        self.region = region
        self.comment = params.get("Comment") or ""
        self.document = params["DocumentName"]
        self.parameters = params.get("Parameters") or {}
        self.instance_ids = list(params.get("InstanceIds") or [])
        self.targets = list(params.get("Targets") or [])
        self.max_concurrency = params.get("MaxConcurrency") or "50"
        self.max_errors = params.get("MaxErrors") or "0"
        self.timeout = int(params.get("TimeoutSeconds") or 3600)
        self.requested = _now()
        self.status = "Pending"
        self.details = "Pending"
        self.step = 0
        self.last_step = time.monotonic()
        self.max_in_progress = 0
        self.invocations = [Invocation(self, iid, name) for iid, name in instances]
        script = "\n".join(self.parameters.get("commands") or [])
        self.script = script
        self.execution_timeout = runtime_exec.execution_timeout(self.parameters)
        for inv in self.invocations:
            inv.outcome = ssm_outcomes.outcome_for(inv.instance_id, script)

    # -- counters with AWS's names ------------------------------------------------------------
    def errors(self) -> int:
        return sum(1 for i in self.invocations if i.details in ("Failed", "Execution Timed Out"))

    def describe(self) -> dict[str, Any]:
        return {
            "CommandId": self.id,
            "DocumentName": self.document,
            "DocumentVersion": "$DEFAULT",
            "Comment": self.comment,
            "ExpiresAfter": self.requested + timedelta(seconds=self.timeout),
            "Parameters": self.parameters,
            "InstanceIds": self.instance_ids,
            "Targets": self.targets,
            "RequestedDateTime": self.requested,
            "Status": self.status,
            "StatusDetails": self.details,
            "OutputS3Region": self.region,
            "OutputS3BucketName": "",
            "OutputS3KeyPrefix": "",
            "MaxConcurrency": self.max_concurrency,
            "MaxErrors": self.max_errors,
            "TargetCount": len(self.invocations),
            "CompletedCount": sum(1 for i in self.invocations if i.terminal),
            "ErrorCount": self.errors(),
            "DeliveryTimedOutCount": sum(
                1 for i in self.invocations if i.details == "Delivery Timed Out"
            ),
            "TimeoutSeconds": self.timeout,
        }

    def timeline(self) -> dict[str, Any]:
        return {
            "CommandId": self.id,
            "Status": self.status,
            "StatusDetails": self.details,
            "Parameters": self.parameters,
            "MaxConcurrency": self.max_concurrency,
            "MaxErrors": self.max_errors,
            "steps": self.step,
            "max_in_progress": self.max_in_progress,
            "invocations": [i.timeline() for i in self.invocations],
        }

    # -- the state machine --------------------------------------------------------------------
    def maybe_step(self) -> None:
        if self.status in TERMINAL:
            return
        now = time.monotonic()
        if now - self.last_step < config.get("step_seconds"):
            return
        self.last_step = now
        self._step()

    def _finish(self, inv: Invocation) -> None:
        outcome = inv.outcome or {}
        status = outcome.get("status", "Success")
        inv.stdout = outcome.get("stdout", "")
        inv.stderr = outcome.get("stderr", "")
        inv.ended = _now()
        inv.ended_step = self.step
        if status == "Success":
            inv.status, inv.details, inv.response_code = "Success", "Success", 0
        elif status == "Failed":
            inv.status, inv.details = "Failed", "Failed"
            inv.response_code = int(outcome.get("response_code", 1))
        elif status == "TimedOut":
            inv.status, inv.details, inv.response_code = "TimedOut", "Execution Timed Out", -1
        else:  # pragma: no cover - outcomes are validated when set
            raise AssertionError(status)

    def _step(self) -> None:
        self.step += 1
        if self.status == "Pending":
            self.status, self.details = "InProgress", "In Progress"
        self._tick_running()
        budget = error_budget(self.max_errors, len(self.invocations))
        if self.errors() > budget:
            for inv in self.invocations:
                if inv.status == "Pending":
                    inv.end("Cancelled", "Cancelled", self.step)
        limit = concurrency_limit(self.max_concurrency, len(self.invocations))
        running = sum(1 for i in self.invocations if i.status == "InProgress")
        for inv in self.invocations:
            if running >= limit:
                break
            if inv.status != "Pending":
                continue
            if self._start(inv):
                running += 1
        self.max_in_progress = max(self.max_in_progress, running)
        if all(i.terminal for i in self.invocations):
            self._conclude(budget)

    def _tick_running(self) -> None:
        for inv in self.invocations:
            if inv.status != "InProgress":
                continue
            if inv.execution is not None:
                # Really running inside the instance: it ends when the script does.
                result = inv.execution.result()
                if result is not None:
                    inv.outcome = result
                    self._finish(inv)
                continue
            inv.steps_left -= 1
            if inv.steps_left <= 0:
                self._finish(inv)

    def _start(self, inv: Invocation) -> bool:
        """Deliver INV to its agent; False when its outcome says it never got there."""
        outcome = inv.outcome or {}
        inv.started_step = self.step
        if outcome.get("status") in _UNDELIVERED:
            # Never reached the agent: no execution, no error against MaxErrors.
            inv.end(*_UNDELIVERED[outcome["status"]], self.step)
            return False
        inv.status, inv.details = "InProgress", "In Progress"
        inv.started = _now()
        inv.steps_left = max(1, int(outcome.get("steps", 1)))
        if inv.outcome is None:
            inv.execution = runtime_exec.start(inv.instance_id, self.script, self.execution_timeout)
        return True

    def _conclude(self, budget: int) -> None:
        errors = self.errors()
        details = [i.details for i in self.invocations]
        if errors > budget:
            self.status, self.details = "Failed", "Failed"
        elif not any(d in ("Success", "Failed", "Execution Timed Out") for d in details):
            # Nothing reached an agent.
            self.status, self.details = "Failed", "Failed"
        elif errors:
            self.status, self.details = "Failed", "Incomplete"
        else:
            self.status, self.details = "Success", "Success"

    def cancel(self) -> None:
        for inv in self.invocations:
            if not inv.terminal:
                inv.end("Cancelled", "Cancelled", self.step)
        self.status, self.details = "Cancelled", "Cancelled"


# -- backend helpers ------------------------------------------------------------------------
def _store(ssm_backend) -> list[Command]:
    # Kept in the backend's own __dict__ so that moto's reset (which rebuilds it) clears it.
    return ssm_backend.__dict__.setdefault("golden_commands", [])


def instances(account: str, region: str) -> dict[str, Any]:
    ec2 = ec2_backends[account][region]
    return {i.id: i for r in ec2.all_reservations() for i in r.instances}


def _tags(instance) -> dict[str, str]:
    return {t["key"]: t["value"] for t in instance.get_tags()}


def _name(instance) -> str:
    return getattr(instance, "private_dns", "") or instance.id


def _resolve_targets(params: dict, account: str, region: str) -> list[tuple[str, str]]:
    ids = params.get("InstanceIds") or []
    targets = params.get("Targets") or []
    if ids and targets:
        raise ValidationException("Specify either InstanceIds or Targets, not both.")
    if not ids and not targets:
        raise ValidationException("InstanceIds or Targets is required.")
    known = instances(account, region)
    if ids:
        if len(ids) > MAX_INSTANCE_IDS:
            raise ValidationException(
                f"InstanceIds: at most {MAX_INSTANCE_IDS} ids; use Targets for more."
            )
        bad = [i for i in ids if i not in known or known[i].state != "running"]
        if bad:
            raise InvalidInstanceId(f"Instances {bad} not in a valid state for account {account}")
        return [(i, _name(known[i])) for i in dict.fromkeys(ids)]
    if len(targets) > 5:
        raise ValidationException("Targets: at most 5 targets.")
    chosen = []
    for instance in known.values():
        if instance.state != "running":
            continue
        tags = _tags(instance)
        if all(_matches(target, instance.id, tags) for target in targets):
            chosen.append((instance.id, _name(instance)))
    return sorted(chosen)


def _matches(target: dict, instance_id: str, tags: dict[str, str]) -> bool:
    key, values = target.get("Key", ""), target.get("Values") or []
    if key == "InstanceIds":
        return instance_id in values
    if key == "tag-key":
        return any(v in tags for v in values)
    if key.startswith("tag:"):
        return tags.get(key[4:]) in values
    raise ValidationException(
        f"Targets: key {key!r} is not modelled by the emulator (InstanceIds, tag:KEY, tag-key)."
    )


def _validate(params: dict) -> None:
    document = params.get("DocumentName")
    if document not in DOCUMENTS:
        raise InvalidDocument(
            f"Document {document!r} is not modelled by the emulator ({', '.join(DOCUMENTS)})."
        )
    commands = (params.get("Parameters") or {}).get("commands")
    if not commands or not all(isinstance(c, str) for c in commands):
        raise InvalidParameters("Parameters: 'commands' must be a non-empty list of strings.")
    concurrency = params.get("MaxConcurrency") or "50"
    if not _CONCURRENCY.match(concurrency):
        raise ValidationException(f"MaxConcurrency {concurrency!r} is not valid.")
    errors = params.get("MaxErrors") or "0"
    if not _ERRORS.match(errors):
        raise ValidationException(f"MaxErrors {errors!r} is not valid.")
    timeout = params.get("TimeoutSeconds")
    if timeout is not None and not 30 <= int(timeout) <= 2592000:
        raise ValidationException("TimeoutSeconds must be from 30 to 2592000.")


def _find(ssm_backend, command_id: str) -> Command:
    for command in _store(ssm_backend):
        if command.id == command_id:
            return command
    raise InvalidCommandId()


# -- actions ----------------------------------------------------------------------------------
def send(ssm_backend, params: dict, account: str, region: str) -> dict:
    with _lock:
        _validate(params)
        instances = _resolve_targets(params, account, region)
        command = Command(params, instances, region)
        _store(ssm_backend).append(command)
        return command.describe()


def list_commands(ssm_backend, command_id: str | None, instance_id: str | None) -> list[dict]:
    with _lock:
        commands = _store(ssm_backend)
        if command_id:
            commands = [_find(ssm_backend, command_id)]
        if instance_id:
            commands = [
                c for c in commands if any(i.instance_id == instance_id for i in c.invocations)
            ]
        out = [c.describe() for c in reversed(commands)]
        for command in commands:
            command.maybe_step()
        return out


def list_invocations(
    ssm_backend, command_id: str | None, instance_id: str | None, details: bool
) -> list[dict]:
    with _lock:
        commands = [_find(ssm_backend, command_id)] if command_id else _store(ssm_backend)
        out = [
            inv.listing(details)
            for command in reversed(commands)
            for inv in command.invocations
            if not instance_id or inv.instance_id == instance_id
        ]
        for command in commands:
            command.maybe_step()
        return out


def get_invocation(ssm_backend, command_id: str, instance_id: str) -> dict:
    with _lock:
        command = _find(ssm_backend, command_id)
        inv = next((i for i in command.invocations if i.instance_id == instance_id), None)
        if inv is None:
            raise InvocationDoesNotExist()
        out = inv.detail()
        command.maybe_step()
        return out


def cancel(ssm_backend, command_id: str, instance_ids: list[str] | None) -> None:
    with _lock:
        command = _find(ssm_backend, command_id)
        if instance_ids:
            for inv in command.invocations:
                if inv.instance_id in instance_ids and not inv.terminal:
                    inv.status, inv.details = "Cancelled", "Cancelled"
                    inv.ended = _now()
            if all(i.terminal for i in command.invocations):
                command.status, command.details = "Cancelled", "Cancelled"
        else:
            command.cancel()


def timelines(ssm_backend) -> list[dict]:
    with _lock:
        return [c.timeline() for c in _store(ssm_backend)]
