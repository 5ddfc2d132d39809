"""Docker adapter: the few docker CLI calls the twin needs, as plain data in and out."""

from __future__ import annotations

import json
import subprocess

from golden.core.errors import OperationFailed
from golden.core.shell import run

# Flags that boot systemd as PID 1 in a container on this kind of host: `--privileged`
# fails here (the bounding set lacks CAP_SYS_RESOURCE), this set works. The cgroup bind
# mount and the /run tmpfs are both required for systemd to start; SIGRTMIN+3 is what
# systemd treats as "halt", so `docker stop` takes 0.2 s instead of 10 s.
SYSTEMD_RUN_FLAGS: tuple[str, ...] = (
    "--cap-add", "ALL",
    "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device-cgroup-rule", "a *:* rwm",
    "--cgroupns=host",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run",
    "--tmpfs", "/run/lock",
    "--stop-signal", "SIGRTMIN+3",
    # The inner dockerd stores images with fuse-overlayfs (see pillar/twin.sls).
    "--device", "/dev/fuse",
)  # fmt: skip


def image_inspect(ref: str) -> dict | None:
    proc = run(["docker", "image", "inspect", ref], check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)[0]


def image_label(ref: str, label: str) -> str | None:
    info = image_inspect(ref)
    if not info:
        return None
    return ((info.get("Config") or {}).get("Labels") or {}).get(label)


def container_state(name: str) -> dict | None:
    proc = run(["docker", "container", "inspect", name], check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)[0]


def remove_container(name: str) -> None:
    run(["docker", "rm", "-f", "-v", name], check=False)


def network_ensure(name: str, subnet: str | None = None) -> dict:
    proc = run(["docker", "network", "inspect", name], check=False)
    if proc.returncode != 0:
        argv = ["docker", "network", "create", "--driver", "bridge"]
        if subnet:
            argv += ["--subnet", subnet]
        run(argv + [name], what=f"docker network create {name}")
        proc = run(["docker", "network", "inspect", name])
    return json.loads(proc.stdout)[0]


def network_remove(name: str) -> None:
    run(["docker", "network", "rm", name], check=False)


def exec_in(name: str, argv: list[str], *, check: bool = True, timeout: float | None = None):
    return run(
        ["docker", "exec", name, *argv],
        check=check,
        timeout=timeout,
        what=f"docker exec {name} {argv[0]}",
    )


def copy_into(name: str, src: str, dest: str) -> None:
    run(["docker", "cp", src, f"{name}:{dest}"], what=f"docker cp {src} -> {name}:{dest}")


def copy_from(name: str, src: str, dest: str) -> None:
    run(["docker", "cp", f"{name}:{src}", dest], what=f"docker cp {name}:{src} -> {dest}")


def import_rootfs(tar_stream_cmd: list[str], changes: list[str], ref: str) -> str:
    """Pipe a rootfs tarball into `docker import`; returns the image id."""
    argv = ["docker", "import"]
    for change in changes:
        argv += ["-c", change]
    producer = subprocess.Popen(tar_stream_cmd, stdout=subprocess.PIPE)
    try:
        proc = subprocess.run(argv + ["-", ref], stdin=producer.stdout, capture_output=True)
    finally:
        assert producer.stdout is not None
        producer.stdout.close()
        producer.wait()
    if producer.returncode != 0 or proc.returncode != 0:
        raise OperationFailed(f"docker import of {ref} failed: {proc.stderr.decode()[-2000:]}")
    return proc.stdout.decode().strip()
