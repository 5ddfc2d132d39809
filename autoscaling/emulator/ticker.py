"""The emulator's clock when it runs in real time (config tick_seconds > 0): a daemon
thread that, every tick, evaluates metric alarms (when config evaluate_alarms is 1) and
moves every active instance refresh on, as AWS does without anyone polling. Each tick is
bounded by the work there is; a failing tick is printed and the next one goes on."""

from __future__ import annotations

import sys
import threading
import traceback

from autoscaling.emulator import alarms, config, instance_refresh

_stop = threading.Event()


def tick() -> None:
    """One tick: alarms first, so a refresh step sees the alarm state of this moment."""
    if config.get("evaluate_alarms"):
        alarms.evaluate_all()
    instance_refresh.tick_all()


def _loop() -> None:
    while not _stop.is_set():
        period = config.get("tick_seconds")
        if period > 0:
            try:
                tick()
            except Exception:  # noqa: BLE001 - keep the clock going; say what failed
                print("golden emulator: tick failed:", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
        _stop.wait(period if period > 0 else 0.5)


def start() -> threading.Thread:
    _stop.clear()
    thread = threading.Thread(target=_loop, name="golden-emulator-ticker", daemon=True)
    thread.start()
    return thread


def stop() -> None:
    _stop.set()
