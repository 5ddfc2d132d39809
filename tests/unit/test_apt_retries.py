"""Every apt run of ours that downloads retries a failed download (Acquire::Retries):
the shell scripts, the scripts golden's Python hands to a container, the Dockerfiles.
A mirror's passing error then costs seconds, not a failed bake or CI run. (What Salt's
package states download is covered by tests/salt/test_downloads.py.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOWNLOADS = {"update", "install", "upgrade", "dist-upgrade", "full-upgrade", "download"}
RETRIES = ("Acquire::Retries", '"${APT_OPTS[@]}"')
ASSIGNED_TEXT = re.compile(r"^\s*\w+=\"")
SCANNED = (".sh", ".py", "Dockerfile", ".sls", ".j2", "Makefile")


def _verb(words: list[str]) -> str:
    """apt-get's command word, past its options (-o X=Y, -y, -qq, "${APT_OPTS[@]}")."""
    index = 0
    while index < len(words):
        if words[index] == "-o":
            index += 2
        elif words[index].startswith(("-", '"$')):
            index += 1
        else:
            return words[index]
    return ""


def _apt_runs() -> list[tuple[str, str]]:
    """(file:line, command) of every apt-get that downloads: a command of a shell line (at
    its start, after && or ;, after a Dockerfile's RUN), not one inside a message or a
    string assigned for one."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True,
                            text=True, check=True, timeout=60).stdout.split()  # fmt: skip
    found = []
    for name in listed:
        if name.startswith("tests/") or not (name.endswith(SCANNED) or name.startswith(".ci/")):
            continue
        for number, line in enumerate((REPO / name).read_text(errors="replace").splitlines(), 1):
            if ASSIGNED_TEXT.match(line):
                continue  # a command shown to a person (bootstrap's hint), not run
            for part in re.split(r"&&|;", line):
                words = part.split()
                while words and (words[0] == "RUN" or words[0].startswith("DEBIAN_FRONTEND=")):
                    words = words[1:]
                if words[:1] == ["apt-get"] and _verb(words[1:]) in DOWNLOADS:
                    found.append((f"{name}:{number}", part.strip()))
    return found


def test_every_apt_download_of_ours_retries():
    runs = _apt_runs()
    # The scanner finds what it must: the twin's base image, provisioning, bootstrap.
    places = {where.split(":")[0] for where, _ in runs}
    assert {"scripts/golden/twin/baseimage.py", "scripts/provision.sh",
            "scripts/bootstrap.sh", "examples/nextjs-app/Dockerfile"} <= places  # fmt: skip
    missing = [f"{where}: {command}" for where, command in runs
               if not any(marker in command for marker in RETRIES)]
    assert missing == [], "apt downloads without retries:\n" + "\n".join(missing)


def test_provisionings_shared_apt_options_retry():
    text = (REPO / "scripts" / "provision.sh").read_text()
    options = re.search(r"APT_OPTS=\((?P<body>[^)]*)\)", text)
    assert options and "Acquire::Retries=" in options.group("body")
