"""The package set of an image: every installed package with its version and the archive
it came from, and the updates still pending. The bake writes it to
/etc/golden/packages.json (scripts/provision.sh, after the highstate) and copies it into
the build record; the in-bake tests fail the bake while a security update is pending.

Decisions are pure functions over the text of `dpkg-query`, `apt-cache policy` and
`apt-get --simulate upgrade`; `collect` runs those commands (read-only: the simulation
takes no lock and changes nothing)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from golden.core.errors import OperationFailed

RECORD_PATH = Path("/etc/golden/packages.json")
SCHEMA = 1
# The origin of an installed version that no configured archive carries: installed from a
# .deb file (the Compose v2 package, the CloudWatch agent) or superseded in its archive.
LOCAL = "local"
DPKG_FORMAT = "${binary:Package}\\t${Version}\\t${Architecture}\\t${db:Status-Abbrev}\\n"
# `Inst NAME [OLD] (NEW ORIGIN[, ORIGIN...] [ARCH])`: apt-get --simulate's line for a
# package it would install or upgrade; OLD is absent for a package new to the system.
_INST = re.compile(
    r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]+)\])? "
    r"\((?P<new>\S+) (?P<origins>.*) \[(?P<arch>[^\]]+)\]\)"
)
_RELEASE_FIELD = re.compile(r"(\w+)=([^,]*)")


def parse_installed(text: str) -> list[dict]:
    """Installed packages from `dpkg-query -W -f DPKG_FORMAT`: [{name, version, arch}],
    sorted by name; packages not fully installed ("rc", "iU", ...) are left out."""
    found = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or parts[3].strip() != "ii":
            continue
        found.append({"name": parts[0], "version": parts[1], "arch": parts[2]})
    return sorted(found, key=lambda p: p["name"])


def _is_package_file(tokens: list[str]) -> bool:
    """`PRIORITY PATH-OR-URL ...`: a package file line of `apt-cache policy`."""
    return (len(tokens) >= 2 and re.fullmatch(r"-?\d+", tokens[0]) is not None
            and (tokens[1].startswith("/") or "://" in tokens[1]))


def parse_releases(text: str) -> dict[str, dict[str, str]]:
    """What each package file of `apt-cache policy` (no arguments) is, keyed by its line
    without the priority ("URL SUITE/COMPONENT ARCH Packages") -> the Release fields apt
    shows for it (o=origin, l=label, n=codename, a=archive, c=component, v=version)."""
    releases: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        tokens = line.split()
        if _is_package_file(tokens):
            current = " ".join(tokens[1:])
        elif current and tokens[:1] == ["release"]:
            releases[current] = dict(_RELEASE_FIELD.findall(" ".join(tokens[1:])))
    return releases


def parse_policy(text: str) -> dict[str, list[str]]:
    """For each package of `apt-cache policy PKG...`, the package files (keys as in
    parse_releases) that carry its installed version (the `***` entry of its version
    table)."""
    sources: dict[str, list[str]] = {}
    package = None
    installed = False
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            package, installed = line[:-1], False
            sources[package] = []
            continue
        tokens = line.split()
        if package is None or not tokens:
            continue
        if tokens[0] == "***":
            installed = True
        elif _is_package_file(tokens):
            if installed:
                sources[package].append(" ".join(tokens[1:]))
        elif len(tokens) == 2 and re.fullmatch(r"-?\d+", tokens[1]):
            installed = False  # the next, not installed, version of the table
    return sources


def origin_of(files: Iterable[str], releases: dict[str, dict[str, str]]) -> str:
    """"ORIGIN/CODENAME" of the first configured archive carrying a version (a security
    suite first when several do), or LOCAL when only dpkg's status file has it."""
    names = []
    for entry in files:
        if entry.startswith("/"):
            continue
        release = releases.get(entry, {})
        origin, codename = release.get("o"), release.get("n")
        if origin and codename:
            names.append(f"{origin}/{codename}")
        else:
            names.append(entry.split(" ")[1].split("/")[0] if " " in entry else entry)
    if not names:
        return LOCAL
    return next((n for n in names if "security" in n.lower()), names[0])


def parse_simulated_upgrade(text: str) -> list[dict]:
    """Updates `apt-get --simulate upgrade` would install: [{name, installed, candidate,
    origins, security}], ``security`` true when any origin is a security archive
    (Debian-Security:12/stable-security, Ubuntu:22.04/jammy-security,
    UbuntuESMApps:22.04/jammy-apps-security)."""
    pending = []
    for line in text.splitlines():
        match = _INST.match(line)
        if not match:
            continue
        origins = [o.strip() for o in match.group("origins").split(",") if o.strip()]
        pending.append({
            "name": match.group("name"),
            "installed": match.group("old"),
            "candidate": match.group("new"),
            "origins": origins,
            "security": any("security" in o.lower() for o in origins),
        })
    return sorted(pending, key=lambda p: p["name"])


def record(installed: list[dict], policy: dict[str, list[str]],
           releases: dict[str, dict[str, str]], pending: list[dict], *, os_name: str,
           recorded_at: str) -> dict:
    """The package record written to RECORD_PATH: every installed package with its origin,
    the pending updates and, apart, the pending security updates."""
    packages = []
    for package in installed:
        files = policy.get(package["name"]) or policy.get(package["name"].split(":")[0]) or []
        packages.append({**package, "origin": origin_of(files, releases)})
    return {
        "schema": SCHEMA,
        "os": os_name,
        "recorded_at": recorded_at,
        "count": len(packages),
        "packages": packages,
        "pending_updates": pending,
        "pending_security": [p["name"] for p in pending if p["security"]],
    }


# -- effects ----------------------------------------------------------------------------------


def _run(argv: list[str], timeout: float = 300) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    except (OSError, subprocess.SubprocessError) as exc:
        raise OperationFailed(f"{argv[0]}: {exc}") from None
    if proc.returncode != 0:
        raise OperationFailed(f"{' '.join(argv[:3])} failed (exit {proc.returncode}): "
                              f"{proc.stderr.strip()[-500:]}")
    return proc.stdout


def _os_name() -> str:
    try:
        fields = dict(line.split("=", 1) for line in
                      Path("/etc/os-release").read_text().splitlines() if "=" in line)
    except OSError:
        return "unknown"
    return fields.get("PRETTY_NAME", "unknown").strip('"')


def collect() -> dict:
    """The record of this machine (apt's package lists must be present: the bake records
    before its clean-up removes them). OperationFailed when a command fails."""
    installed = parse_installed(_run(["dpkg-query", "-W", "-f", DPKG_FORMAT]))
    releases = parse_releases(_run(["apt-cache", "policy"]))
    policy = parse_policy(_run(["apt-cache", "policy", *[p["name"] for p in installed]]))
    pending = parse_simulated_upgrade(_run(
        ["apt-get", "--simulate", "-o", "Debug::NoLocking=1", "-o",
         "APT::Get::Always-Include-Phased-Updates=true", "upgrade", "--with-new-pkgs"]))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return record(installed, policy, releases, pending, os_name=_os_name(), recorded_at=now)


def write(rec: dict, path: Path = RECORD_PATH) -> None:
    """The record as JSON at ``path`` (mode 0644: versions are no secret), replaced
    atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    tmp.chmod(0o644)
    tmp.replace(path)
