"""Run-time knobs of the emulator, settable over HTTP (POST /moto-api/golden/config).

step_seconds: minimum wall time between two steps of an instance refresh. A refresh moves
    at most one step per DescribeInstanceRefreshes call, so with 0 a test drives it
    deterministically by polling; a person watching `make release ENV=local` wants ~1 s.
time_scale: factor applied to CheckpointDelay, BakeTime and InstanceWarmup waits (0 =
    pass through those states without waiting, 1 = real seconds), to deregistration
    delays and to alarm periods.
tick_seconds: when above 0, a background thread moves instance refreshes on and
    evaluates alarms every tick_seconds, as AWS does on its own, instead of only when a
    client reads them (a rehearsal with real instances runs in real time).
evaluate_alarms: 1 = metric alarms are evaluated from the metric data put into the
    emulator (emulator/alarms.py); 0 (default) = their state changes only through
    SetAlarmState, as tests that set it expect.
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_DEFAULTS = {
    "step_seconds": float(os.environ.get("GOLDEN_EMULATOR_STEP_SECONDS", "0")),
    "time_scale": float(os.environ.get("GOLDEN_EMULATOR_TIME_SCALE", "0")),
    "tick_seconds": float(os.environ.get("GOLDEN_EMULATOR_TICK_SECONDS", "0")),
    "evaluate_alarms": float(os.environ.get("GOLDEN_EMULATOR_EVALUATE_ALARMS", "0")),
}
_values = dict(_DEFAULTS)


def get(name: str) -> float:
    with _lock:
        return _values[name]


def snapshot() -> dict:
    with _lock:
        return dict(_values)


def update(changes: dict) -> dict:
    unknown = set(changes) - set(_values)
    if unknown:
        raise ValueError(
            f"unknown emulator setting(s): {sorted(unknown)}; known: {sorted(_values)}"
        )
    with _lock:
        for key, value in changes.items():
            value = float(value)
            if value < 0:
                raise ValueError(f"{key} must be >= 0")
            _values[key] = value
        return dict(_values)


def set_defaults(**values: float) -> None:
    """What /moto-api/reset returns to (the command line's --step-seconds/--time-scale)."""
    update(values)
    with _lock:
        _DEFAULTS.update({k: float(v) for k, v in values.items()})


def reset() -> None:
    with _lock:
        _values.clear()
        _values.update(_DEFAULTS)
