"""Progress on stderr: a live bar on a terminal, one line per change otherwise (CI logs)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn


class Reporter:
    def __init__(self, console: Console | None = None, quiet: bool = False):
        self.console = console or Console(file=sys.stderr, highlight=False)
        self.quiet = quiet
        self._progress: Progress | None = None
        self._task = None

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message, markup=False, soft_wrap=True)

    # -- refresh bar ------------------------------------------------------------------------
    def refresh_started(self, label: str) -> None:
        if self.quiet or not self.console.is_terminal:
            self.info(label)
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[left]} left"),
            TextColumn("{task.fields[reason]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._task = self._progress.add_task(label, total=100, left="?", reason="")
        self._progress.start()

    def refresh_update(self, refresh: dict) -> None:
        status = refresh.get("Status")
        pct = refresh.get("PercentageComplete") or 0
        left = refresh.get("InstancesToUpdate")
        reason = refresh.get("StatusReason") or ""
        rollback = refresh.get("RollbackDetails")
        if rollback and str(status).startswith("Rollback"):
            pct = rollback.get("PercentageCompleteOnRollback") or 0
            left = rollback.get("InstancesToUpdateOnRollback")
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=pct,
                description=str(status),
                left="?" if left is None else left,
                reason=reason[:60],
            )
        else:
            self.info(
                f"  {status:<18} {pct:>3}%  {'?' if left is None else left} instance(s) "
                f"left  {reason}".rstrip()
            )

    def refresh_done(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
