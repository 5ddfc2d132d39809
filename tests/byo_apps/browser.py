"""Headless Chromium (Debian's `chromium`) loading a page the way a user's browser does:
its scripts run, its policy (CSP) is enforced, and what it logs to the console is read
back from Chromium's own log (`--enable-logging=stderr`), CSP violations included.

Only loopback is reachable: a proxy that answers nothing (127.0.0.1:9) stands for every
other address (Chromium never proxies loopback), host names other than 127.0.0.1 do not
resolve, and Chromium's background traffic (updates, metrics, safe browsing) is off."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from urllib.parse import urlsplit

# Chromium's log line for a console message, in the forms Chromium has used:
#   [pid:tid:MMDD/HHMMSS.micro:INFO:CONSOLE(12)] "message", source: URL (12)
#   [pid:tid:MMDD/HHMMSS.micro:INFO:CONSOLE:12] "message", source: URL (12)
_CONSOLE = re.compile(r":(?:INFO|WARNING|ERROR|VERBOSE\d*):CONSOLE(?:\(\d+\)|:\d+)?\]\s*(.*)$")
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-domain-reliability", "--metrics-recording-only",
    "--disable-client-side-phishing-detection", "--no-pings", "--disable-breakpad",
    "--disable-features=OptimizationHints,MediaRouter,Translate",
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--enable-logging=stderr", "--v=0",
)  # fmt: skip


@dataclass(frozen=True)
class Page:
    url: str
    dom: str  # the DOM after the page's scripts ran (--dump-dom)
    console: list[str]  # every console message, CSP violations included


def console_messages(log: str) -> list[str]:
    """The console messages in Chromium's stderr log, in order (text after the tag)."""
    return [m.group(1).strip() for m in map(_CONSOLE.search, log.splitlines()) if m]


def argv(binary: str, url: str, profile: str, budget_ms: int) -> list[str]:
    """Chromium's command line: load ``url`` with a fresh ``profile``, let timers and
    fetches run for ``budget_ms`` of virtual time, print the DOM."""
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"{url}: the browser check loads loopback pages only")
    return [binary, *FLAGS, f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}", "--dump-dom", url]  # fmt: skip


def find_chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise RuntimeError("chromium is not installed: `apt-get install chromium` "
                           "(scripts/bootstrap.sh --for test installs it)")  # fmt: skip
    return binary


def load(url: str, *, budget_ms: int = 5000, timeout: float = 90) -> Page:
    """Load ``url`` in headless Chromium; the DOM after its scripts ran and its console."""
    profile = tempfile.mkdtemp(prefix="golden-byo-chromium-")
    try:
        proc = subprocess.run(argv(find_chromium(), url, profile, budget_ms),
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited {proc.returncode} on {url}:\n{proc.stderr[-2000:]}")
    return Page(url=url, dom=proc.stdout, console=console_messages(proc.stderr))
