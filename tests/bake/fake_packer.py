"""Stand-in `packer` executable for the wrapper tests. Tests copy it into a folder they put
first on PATH, named `packer`. It replays transcripts recorded from real Packer 1.6.6
(tests/bake/transcripts, made by record_transcripts.py) instead of building anything.

Environment:
  FAKE_PACKER_VERSION     what `packer version` reports (default 1.6.6)
  FAKE_PACKER_TRANSCRIPT  transcript name replayed by `packer build`
  FAKE_PACKER_VALIDATE    transcript name replayed by `packer validate` (default: pass)
  FAKE_PACKER_ARTIFACT_ID replaces the recorded image id (the recorded image is long gone)
  FAKE_PACKER_CALLS       file that gets one JSON line per invocation (argv, cwd)
  FAKE_PACKER_TRANSCRIPTS folder of the transcripts (default tests/bake/transcripts)

A transcript's meta file (NAME.json) gives the exit code, the manifest Packer wrote, and
for the interrupt scenario the line after which real Packer received SIGINT: the stand-in
then waits (bounded) for the SIGINT to reach it before replaying Packer's clean-up lines."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"
SIGINT_WAIT = 20.0
# What `golden instance packages` writes in the image (two packages, nothing pending).
PACKAGE_RECORD = {
    "schema": 1, "os": "Debian GNU/Linux 12 (bookworm)", "recorded_at": "2026-01-31T12:00:00Z",
    "count": 2,
    "packages": [
        {"name": "openssl", "version": "3.0.15-1~deb12u1", "arch": "amd64",
         "origin": "Debian/bookworm-security"},
        {"name": "docker-compose", "version": "2.26.1-4", "arch": "amd64", "origin": "local"},
    ],
    "pending_updates": [], "pending_security": [],
}  # fmt: skip
# What `golden instance sbom` writes in the image: CycloneDX 1.5 with the same two packages.
SBOM = {
    "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
    "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
    "metadata": {"timestamp": "2026-01-31T12:00:00Z",
                 "component": {"type": "operating-system", "name": "golden-app",
                               "version": "dev", "bom-ref": "golden-app@dev"}},
    "components": [
        {"type": "library", "name": "openssl", "version": "3.0.15-1~deb12u1",
         "bom-ref": "pkg:deb/debian/openssl@3.0.15-1~deb12u1?arch=amd64&distro=bookworm",
         "purl": "pkg:deb/debian/openssl@3.0.15-1~deb12u1?arch=amd64&distro=bookworm"},
        {"type": "library", "name": "docker-compose", "version": "2.26.1-4",
         "bom-ref": "pkg:deb/debian/docker-compose@2.26.1-4?arch=amd64&distro=bookworm",
         "purl": "pkg:deb/debian/docker-compose@2.26.1-4?arch=amd64&distro=bookworm"},
    ],
}  # fmt: skip


def _log_call(argv: list[str]) -> None:
    calls = os.environ.get("FAKE_PACKER_CALLS")
    if calls:
        with open(calls, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"argv": argv, "cwd": os.getcwd()}) + "\n")


def _vars(argv: list[str]) -> dict[str, str]:
    found = {}
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == "-var":
            key, _, val = value.partition("=")
            found[key] = val
    return found


def _load(name: str) -> tuple[list[str], dict]:
    # A test may replay a transcript it derived from a recorded one (FAKE_PACKER_TRANSCRIPTS).
    folder = Path(os.environ.get("FAKE_PACKER_TRANSCRIPTS") or TRANSCRIPTS)
    lines = (folder / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    recorded_id = None
    for line in lines:
        parts = line.split(",")
        if len(parts) >= 6 and parts[2] == "artifact" and parts[4] == "id":
            recorded_id = parts[5]
    new_id = os.environ.get("FAKE_PACKER_ARTIFACT_ID")
    if recorded_id and new_id:
        lines = [line.replace(recorded_id, new_id) for line in lines]
        meta = json.loads(json.dumps(meta).replace(recorded_id, new_id))
    return lines, meta


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def replay(name: str, argv: list[str]) -> int:
    lines, meta = _load(name)
    marker = meta.get("interrupt_after")
    interrupted = []
    signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    waiting_done = marker is None
    for line in lines:
        _emit(line)
        if not waiting_done and marker in line:
            deadline = time.monotonic() + SIGINT_WAIT
            while not interrupted and time.monotonic() < deadline:
                time.sleep(0.05)
            if not interrupted:
                _emit("stand-in packer: no SIGINT arrived within 20s")
                return 99
            waiting_done = True
    manifest = meta.get("manifest")
    variables = _vars(argv)
    target = variables.get("manifest_path")
    if manifest and target:
        # As the manifest post-processor would: custom_data carries this run's variables.
        for build in manifest["builds"]:
            custom = build.get("custom_data", {})
            custom.update({k: v for k, v in variables.items() if k in custom})
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(json.dumps(manifest, indent=2))
    packages = variables.get("packages_path")
    if packages and int(meta["exit"]) == 0:
        # As the file provisioner's download of /etc/golden/packages.json would.
        Path(packages).parent.mkdir(parents=True, exist_ok=True)
        Path(packages).write_text(json.dumps(PACKAGE_RECORD))
    sbom = variables.get("sbom_path")
    if sbom and int(meta["exit"]) == 0:
        # As the file provisioner's download of /etc/golden/sbom.cdx.json would.
        Path(sbom).parent.mkdir(parents=True, exist_ok=True)
        Path(sbom).write_text(json.dumps(SBOM))
    return int(meta["exit"])


def main(argv: list[str]) -> int:
    _log_call(argv)
    command = argv[0] if argv else ""
    if command == "version" or argv == ["-machine-readable", "version"]:
        _emit(f"Packer v{os.environ.get('FAKE_PACKER_VERSION', '1.6.6')}")
        return 0
    if command == "validate":
        name = os.environ.get("FAKE_PACKER_VALIDATE")
        return replay(name, argv) if name else 0
    if command == "build":
        return replay(os.environ["FAKE_PACKER_TRANSCRIPT"], argv)
    sys.stderr.write(f"stand-in packer: unsupported command {argv!r}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
