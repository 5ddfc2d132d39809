"""SSM Run Command's moto wiring: the response handlers moto dispatches by action name
(SendCommand, ListCommands, ListCommandInvocations, GetCommandInvocation, CancelCommand)
onto the model in emulator/run_command.py."""

from __future__ import annotations

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
