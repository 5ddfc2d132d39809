"""Run Command scripts executed for real, when the installed runtime can run them inside
an instance (emulator/runtime.py ``run_command``): each invocation runs in a worker
thread, and the Run Command model (emulator/run_command.py) ends the invocation when the
script ends, with its exit code and output. Without such a runtime nothing runs and the
test-set outcomes (emulator/ssm_outcomes.py) decide, as before.

AWS-RunShellScript's ``executionTimeout`` parameter (seconds, default 3600, as the SSM
document defines it) bounds a run; a run past it ends Execution Timed Out (response code
-1)."""

from __future__ import annotations

import threading

from autoscaling.emulator import runtime

DEFAULT_EXECUTION_TIMEOUT = 3600
MAX_EXECUTION_TIMEOUT = 172800  # the document's limit (48 hours)


def execution_timeout(parameters: dict) -> float:
    """The executionTimeout parameter (a list of one string, as SendCommand sends it)."""
    raw = (parameters or {}).get("executionTimeout") or [str(DEFAULT_EXECUTION_TIMEOUT)]
    try:
        value = float(raw[0] if isinstance(raw, list) else raw)
    except (TypeError, ValueError):
        value = DEFAULT_EXECUTION_TIMEOUT
    return min(max(1.0, value), MAX_EXECUTION_TIMEOUT)


class Execution:
    """One script running inside one instance; ``result()`` is None until it ends."""

    def __init__(self, instance_id: str, script: str, timeout: float):
        self._result: dict | None = None
        self._thread = threading.Thread(
            target=self._run, args=(instance_id, script, timeout), daemon=True
        )
        self._thread.start()

    def _run(self, instance_id: str, script: str, timeout: float) -> None:
        try:
            code, stdout, stderr = runtime.call("run_command", instance_id, script, timeout)
        except Exception as exc:  # noqa: BLE001 - the instance's failure, reported as such
            code, stdout, stderr = 1, "", f"golden emulator: the runtime failed: {exc}"
        if code == -1:
            status = "TimedOut"
        else:
            status = "Success" if code == 0 else "Failed"
        self._result = {
            "status": status,
            "stdout": stdout,
            "stderr": stderr,
            "response_code": code,
        }

    def result(self) -> dict | None:
        return None if self._thread.is_alive() else self._result


def start(instance_id: str, script: str, timeout: float) -> Execution | None:
    """Start the script in the instance when the runtime runs commands; None otherwise."""
    if not runtime.provides("run_command"):
        return None
    return Execution(instance_id, script, timeout)
