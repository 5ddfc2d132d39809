"""The script `golden audit` runs as root on the audited host (the twin through docker
exec, an instance through SSM Run Command). It unpacks the tool bundle (bundle.py) in a
folder of its own, runs lynis and ssh-audit there, collects what gixy and the header
check need, prints every result as one section, and removes the folder whatever
happens: the host keeps nothing of the audit.

Each section is ``==golden-audit:NAME==`` and one line of base64 of gzip (reports.sections
reads them), which keeps the output of a whole audit within what SSM returns (24,000
characters of standard output)."""

from __future__ import annotations

import re
import shlex

from golden.core.errors import ConfigError

WORK_PREFIX = "/var/tmp/golden-audit-"
# lynis in its quick mode (no pauses) from the unpacked folder (--usecwd: its include,
# db, plugins and profile there), logging nowhere, its report in the work folder.
LYNIS = ("sh ./lynis audit system --usecwd --quick --no-colors --no-log "
         '--report-file "$work/lynis.dat"')
REPORT_KEYS = "^(hardening_index|warning\\[\\]|suggestion\\[\\]|lynis_version)="

TEMPLATE = """\
set -u
work={work}
mkdir -p -m 0700 "$work" || exit 3
# lynis keeps its PID in /run/lynis.pid while it runs: ours goes too, another's stays.
pid_before=$(test -e /run/lynis.pid && echo yes)
trap 'cd / && rm -rf "$work"; test -n "$pid_before" || rm -f /run/lynis.pid' EXIT INT TERM
cd "$work" || exit 3
{fetch}echo "{sha256}  bundle.tgz" | sha256sum -c --quiet - || {{ echo "golden-audit: the tool bundle does not match its sha256" >&2; exit 3; }}
tar -xzf bundle.tgz || exit 3
section() {{ echo "==golden-audit:$1=="; gzip -9c | base64 -w0; echo; }}
cat /etc/golden/image.json 2>/dev/null | section image
cat /etc/golden/packages.json 2>/dev/null | section packages
( cd lynis && {lynis} >"$work/lynis.out" 2>&1 )
grep -E '{report_keys}' "$work/lynis.dat" 2>/dev/null | section lynis
tail -c 2000 "$work/lynis.out" | section lynis-log
PYTHONPATH="$work/python" python3 -m ssh_audit -j -t 20 -p {ssh_port} 127.0.0.1 2>&1 | section ssh-audit
if command -v nginx >/dev/null 2>&1; then nginx -T 2>/dev/null | section nginx; fi
curl -s -D - -o /dev/null --max-time 10 http://127.0.0.1:80/ 2>/dev/null | section headers
echo "==golden-audit:end=="
"""  # noqa: E501


def script(work: str, sha256: str, *, url: str | None = None, ssh_port: int = 22) -> str:
    """The script for a host whose bundle is at WORK/bundle.tgz already (``url`` None:
    copied there) or is fetched from ``url`` (a presigned HTTPS URL) with curl. ConfigError
    for a work folder outside /var/tmp/golden-audit-*, a sha256 that is not 64 hex digits
    or a port outside 1-65535: the script removes its work folder recursively."""
    if not re.fullmatch(re.escape(WORK_PREFIX) + r"[A-Za-z0-9]{6,32}", work):
        raise ConfigError(f"audit work folder {work!r}: expected {WORK_PREFIX}<letters/digits>")
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ConfigError(f"bundle sha256 {sha256!r}: expected 64 hex digits")
    if not 1 <= int(ssh_port) <= 65535:
        raise ConfigError(f"--ssh-port: expected 1-65535, got {ssh_port}")
    fetch = ""
    if url:
        fetch = f"curl -fsS --max-time 300 -o bundle.tgz {shlex.quote(url)} || exit 3\n"
    return TEMPLATE.format(work=shlex.quote(work), fetch=fetch, sha256=sha256, lynis=LYNIS,
                           report_keys=REPORT_KEYS, ssh_port=int(ssh_port))
