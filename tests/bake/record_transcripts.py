"""Re-record the machine-readable transcripts the stand-in `packer` replays.

Not a test: run it by hand on a machine with Packer 1.6.6, Docker and the twin base image
(`golden base-image`), from the repository root:

    .venv/bin/python tests/bake/record_transcripts.py

Each scenario runs the real template (its Packer 1.6.6 compatibility rendering) with real
Packer against the docker.twin source; only provision.sh is a small script whose outcome
the scenario chooses. The committed images are removed afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "transcripts"
sys.path.insert(0, str(REPO / "scripts"))

from golden.bake import compat as packer_compat  # noqa: E402

PROVISION = {
    "success": """
echo "golden-provision: role=$2 salt-install=$6"
echo "local:"
echo "----------"
echo "          ID: docker-package-installed"
echo "    Function: pkg.installed"
echo "      Result: True"
echo "Summary for local"
echo "Succeeded: 42 (changed=17)"
echo "Failed:     0"
echo "============================================================ 12 passed, 1 skipped in 3.21s"
echo "golden-provision: tests passed=12 failed=0 skipped=1"
""",
    "provisioner-failure": """
echo "golden-provision: role=$2 salt-install=$6"
echo "          ID: nginx-service-running"
echo "    Function: service.running"
echo "      Result: False"
echo "     Comment: Job for nginx.service failed because the control process exited"
echo "Summary for local"
echo "Succeeded: 40 (changed=15)"
echo "Failed:     2"
echo "golden-provision: highstate failed (2 states), see above" >&2
echo "golden-provision: tests passed=0 failed=0 skipped=0"
exit 2
""",
    "interrupt": """
echo "golden-provision: role=$2 salt-install=$6"
echo "golden-provision: applying highstate"
sleep 120
""",
}


def run_scenario(name: str, template: Path, base_image: str) -> None:
    with tempfile.TemporaryDirectory(prefix=f"record-{name}-") as tmp:
        stage = Path(tmp) / "stage"
        stage.mkdir()
        (stage / "provision.sh").write_text("set -e\n" + PROVISION[name])
        manifest = Path(tmp) / "manifest.json"
        argv = [
            "packer", "build", "-machine-readable", "-only=golden.docker.twin",
            "-var", "role=app", "-var", "salt_install=wheelhouse",
            "-var", f"staging_dir={stage}", "-var", f"manifest_path={manifest}",
            "-var", "git_revision=3f2c1e0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e",
            "-var", "state_tree_revision=9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b",
            "-var", "packer_version=1.6.6",
            "-var", f"twin_base_image={base_image}",
            str(template),
        ]  # fmt: skip
        env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True
        )
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if name == "interrupt" and "applying highstate" in line:
                time.sleep(1)
                os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C would
        rc = proc.wait(timeout=300)
        (OUT / f"{name}.txt").write_text("".join(lines))
        meta = {"exit": rc}
        if name == "interrupt":
            meta["interrupt_after"] = "applying highstate"
        if manifest.exists():
            meta["manifest"] = json.loads(manifest.read_text())
        (OUT / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
        for line in lines:
            if ",artifact," in line and ",id," in line:
                image = line.rstrip("\n").split(",")[-1]
                subprocess.run(["docker", "rmi", "-f", image], capture_output=True)
        print(f"{name}: exit {rc}, {len(lines)} lines")


def record_validation_error(template: Path) -> None:
    argv = [
        "packer", "validate", "-machine-readable", "-only=golden.docker.twin",
        "-var", "role=web", "-var", "version=1.0", "-var", "staging_dir=/nonexistent",
        "-var", "git_revision=x", "-var", "state_tree_revision=y", "-var", "packer_version=1.6.6",
        str(template),
    ]  # fmt: skip
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    (OUT / "validation-error.txt").write_text(proc.stdout)
    (OUT / "validation-error.json").write_text(json.dumps({"exit": proc.returncode}) + "\n")
    print(f"validation-error: exit {proc.returncode}")


def main() -> None:
    base_image = os.environ.get("TWIN_BASE_IMAGE", "golden/base:bookworm")
    if shutil.which("packer") is None:
        sys.exit("packer is not on PATH")
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="record-template-") as tmp:
        template = Path(tmp) / "template"
        packer_compat.render_dir(REPO / "packer", template)
        record_validation_error(template)
        for name in sys.argv[1:] or list(PROVISION):
            run_scenario(name, template, base_image)


if __name__ == "__main__":
    main()
