"""The audit's remote script (golden.audit.remote) and tool bundle (golden.audit.bundle),
run here with `sh` against a bundle of stand-in tools: what it prints is what
golden.audit.reports reads, it checks the bundle's sha256 first, and it leaves nothing
behind, whether it completes or stops. The real tools run on the twin (tests/image) and
by `make audit`."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from golden.audit import bundle, remote, reports
from golden.core.errors import ConfigError

STUB_LYNIS = """#!/bin/sh
# Stand-in lynis: writes a report where --report-file says, as lynis does.
while [ $# -gt 0 ]; do
  if [ "$1" = "--report-file" ]; then report="$2"; fi
  shift
done
test -f ./include/consts || { echo "no include" >&2; exit 1; }
{ echo lynis_version=3.0.8; echo hardening_index=77
  echo 'warning[]=TEST-0001|stub warning|-|-|'; } > "$report"
"""
STUB_SSH_AUDIT = ('import json\nprint(json.dumps({"banner": {"software": "OpenSSH_9.2p1"}, '
                  '"kex": [{"algorithm": "curve25519-sha256", "notes": {}}], "key": [], '
                  '"enc": [], "mac": [], "recommendations": {}}))\n')


@pytest.fixture
def stub_parts(tmp_path) -> list[tuple[Path, str]]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "lynis").write_text(STUB_LYNIS)
    (src / "lynis").chmod(0o755)
    (src / "consts").write_text("# lynis include\n")
    (src / "main.py").write_text(STUB_SSH_AUDIT)
    (src / "init.py").write_text("")
    return [(src / "lynis", "lynis/lynis"), (src / "consts", "lynis/include/consts"),
            (src / "init.py", "python/ssh_audit/__init__.py"),
            (src / "main.py", "python/ssh_audit/__main__.py")]  # fmt: skip


@pytest.fixture
def stub_bundle(tmp_path, stub_parts) -> bundle.Bundle:
    return bundle.build(tmp_path / "out", stub_parts)


def run_script(built: bundle.Bundle, sha256: str | None = None):
    work = remote.WORK_PREFIX + "t" + secrets.token_hex(6)
    Path(work).mkdir(mode=0o700)
    shutil.copy(built.path, f"{work}/bundle.tgz")
    script = remote.script(work, sha256 or built.sha256)
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120)
    return work, proc


def test_the_script_prints_every_section_and_leaves_nothing(stub_bundle):
    work, proc = run_script(stub_bundle)
    assert proc.returncode == 0, proc.stderr
    assert not Path(work).exists()
    found = reports.sections(proc.stdout)
    assert {"image", "packages", "lynis", "lynis-log", "ssh-audit", "headers"} <= set(found)
    summary = reports.summarize(found, None)
    assert summary["lynis"]["hardening_index"] == 77
    assert summary["lynis"]["warnings"] == ["TEST-0001: stub warning"]
    assert summary["ssh_audit"]["software"] == "OpenSSH_9.2p1"


def test_a_bundle_that_is_not_the_one_sent_is_not_run(stub_bundle):
    work, proc = run_script(stub_bundle, sha256="0" * 64)
    assert proc.returncode == 3
    assert "does not match its sha256" in proc.stderr
    assert "==golden-audit:lynis==" not in proc.stdout
    assert not Path(work).exists()


@pytest.mark.parametrize("work, sha, port, message", [
    ("/", "a" * 64, 22, "audit work folder"),
    ("/var/tmp/golden-audit-x; rm -rf /", "a" * 64, 22, "audit work folder"),
    ("/var/tmp/golden-audit-abc123", "xyz", 22, "64 hex digits"),
    ("/var/tmp/golden-audit-abc123", "a" * 64, 70000, "--ssh-port"),
])  # fmt: skip
def test_what_the_script_would_remove_or_run_is_checked_first(work, sha, port, message):
    with pytest.raises(ConfigError, match=message):
        remote.script(work, sha, ssh_port=port)


def test_an_instance_fetches_the_bundle_from_the_url_quoted():
    text = remote.script("/var/tmp/golden-audit-abc123", "a" * 64,
                         url="https://b.s3.amazonaws.com/k?X-Amz-Signature=a&b=c")
    assert "curl -fsS --max-time 300 -o bundle.tgz 'https://b.s3.amazonaws.com/k?" in text


def test_the_bundle_is_reproducible_root_owned_and_not_group_writable(stub_bundle, stub_parts,
                                                                       tmp_path):
    again = bundle.build(tmp_path / "again", list(reversed(stub_parts)))
    assert again.sha256 == stub_bundle.sha256
    assert hashlib.sha256(stub_bundle.path.read_bytes()).hexdigest() == stub_bundle.sha256
    with tarfile.open(stub_bundle.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["lynis/lynis"].mode == 0o750
    assert members["lynis/include/consts"].mode == 0o640
    assert all(m.uid == 0 and m.gid == 0 and not m.mode & 0o022 for m in members.values())


def test_without_lynis_the_bundle_names_the_package(tmp_path):
    with pytest.raises(ConfigError, match="apt-get install lynis"):
        bundle.lynis_parts(script=tmp_path / "lynis", share=tmp_path / "share",
                           etc=tmp_path / "etc")
