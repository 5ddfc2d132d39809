"""SSM Run Command's moto wiring: the response handlers moto dispatches by action name
(SendCommand, ListCommands, ListCommandInvocations, GetCommandInvocation, CancelCommand)
onto the model in emulator/run_command.py; and DescribeInstanceInformation, which moto
lacks (the managed nodes, below)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from moto.core.responses import ActionResult

from autoscaling.emulator import run_command


# -- moto response handlers (dispatched by action name) -----------------------------------------
def _send_command(self):
    params = {
        key: self._get_param(key)
        for key in (
            "DocumentName", "Comment", "Parameters", "InstanceIds", "Targets",
            "MaxConcurrency", "MaxErrors", "TimeoutSeconds",
        )
    }  # fmt: skip
    command = run_command.send(self.ssm_backend, params, self.current_account, self.region)
    return ActionResult({"Command": command})


def _list_commands(self):
    items = run_command.list_commands(
        self.ssm_backend, self._get_param("CommandId"), self._get_param("InstanceId")
    )
    return ActionResult(_page(self, items, "Commands"))


def _list_command_invocations(self):
    items = run_command.list_invocations(
        self.ssm_backend,
        self._get_param("CommandId"),
        self._get_param("InstanceId"),
        bool(self._get_param("Details", False)),
    )
    return ActionResult(_page(self, items, "CommandInvocations"))


def _get_command_invocation(self):
    return ActionResult(
        run_command.get_invocation(
            self.ssm_backend, self._get_param("CommandId"), self._get_param("InstanceId")
        )
    )


def _cancel_command(self):
    run_command.cancel(
        self.ssm_backend, self._get_param("CommandId"), self._get_param("InstanceIds")
    )
    return ActionResult({})


# -- managed nodes ------------------------------------------------------------------------------
# DescribeInstanceInformation as the API reference describes it: the managed nodes with
# their agent's PingStatus; nodes that are stopped or terminated are not returned;
# InstanceInformationFilterList and Filters together are an error; an instance id that is
# not valid is an error (InvalidInstanceId). Filter keys modelled: InstanceIds,
# PingStatus, ResourceType, PlatformTypes. Not modelled: the agent's registration time
# and its absence (every running instance is a node whose agent is Online at once,
# as the Run Command model already assumes), ConnectionLost, tag filters, associations.
_FILTER_KEYS = ("InstanceIds", "PingStatus", "ResourceType", "PlatformTypes")


def _node(instance) -> dict[str, Any]:
    return {
        "InstanceId": instance.id,
        "PingStatus": "Online",
        "LastPingDateTime": datetime.now(timezone.utc),
        "AgentVersion": "3.3.0.0",
        "IsLatestVersion": True,
        "PlatformType": "Linux",
        "PlatformName": "Ubuntu",
        "PlatformVersion": "22.04",
        "ResourceType": "EC2Instance",
        "IPAddress": instance.private_ip or "",
        "ComputerName": getattr(instance, "private_dns", "") or instance.id,
    }


def describe_instance_information(account: str, region: str, filters: list[dict]) -> list[dict]:
    """The managed nodes of ACCOUNT/REGION matching FILTERS ([{"Key", "Values"}])."""
    known = run_command.instances(account, region)
    wanted: dict[str, list[str]] = {}
    for item in filters:
        key = item.get("Key")
        if key not in _FILTER_KEYS:
            raise run_command.ValidationException(
                f"Filters: key {key!r} is not modelled by the emulator ({', '.join(_FILTER_KEYS)})."
            )
        wanted[key] = list(item.get("Values") or [])
    bad = [i for i in wanted.get("InstanceIds", []) if i not in known]
    if bad:
        raise run_command.InvalidInstanceId(f"Instances {bad} are not valid.")
    nodes = [_node(i) for i in known.values() if i.state not in ("stopped", "terminated")]
    fields = {"InstanceIds": "InstanceId", "PingStatus": "PingStatus",
              "ResourceType": "ResourceType", "PlatformTypes": "PlatformType"}  # fmt: skip
    return sorted(
        (n for n in nodes if all(n[fields[k]] in v for k, v in wanted.items())),
        key=lambda n: n["InstanceId"],
    )


def _describe_instance_information(self):
    legacy = self._get_param("InstanceInformationFilterList")
    filters = self._get_param("Filters")
    if legacy and filters:
        raise run_command.ValidationException(
            "InstanceInformationFilterList and Filters cannot be used together."
        )
    converted = [{"Key": f.get("key"), "Values": f.get("valueSet")} for f in legacy or []]
    items = describe_instance_information(self.current_account, self.region, filters or converted)
    return ActionResult(_page(self, items, "InstanceInformationList"))


def _page(response, items: list[dict], key: str) -> dict:
    size = int(response._get_param("MaxResults") or 50)
    token = response._get_param("NextToken")
    start = int(token) if token else 0
    out: dict[str, Any] = {key: items[start : start + size]}
    if len(items) > start + size:
        out["NextToken"] = str(start + size)
    return out


def all_timelines() -> list[dict]:
    from moto.ssm.models import ssm_backends

    out = []
    for per_account in list(ssm_backends.values()):
        for backend in list(dict.values(per_account)):
            out.extend(run_command.timelines(backend))
    return out


def install() -> None:
    from moto.ssm.responses import SimpleSystemManagerResponse as R

    R.send_command = _send_command
    R.list_commands = _list_commands
    R.list_command_invocations = _list_command_invocations
    R.get_command_invocation = _get_command_invocation
    R.cancel_command = _cancel_command
    R.describe_instance_information = _describe_instance_information
