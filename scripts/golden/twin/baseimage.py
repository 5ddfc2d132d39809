"""The twin's base image: a debootstrapped systemd root filesystem imported into Docker.

No registry is needed. Debian 12 is the default because its mirror is reachable here; the
suite and mirror are parameters so Ubuntu 22.04 (jammy, same os_family) builds the same
way. The result stands in for the cloud image an AMI bake starts from: systemd, cloud-init,
sshd and python3, nothing of ours yet. Like a cloud image its apt sources list the
release, its updates suite and its security suite (debootstrap itself knows only the
release), and it is upgraded from them when it is made."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from golden.core import containers
from golden.core.errors import ConfigError
from golden.core.shell import eprint, run, stream, which_or_fail

INPUTS_LABEL = "io.golden.base.inputs"

# debootstrap's own dependency ordering trips over some packages (python3-cryptography
# via cloud-init), so it installs only the core; apt installs the rest inside a container.
CORE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "ca-certificates")

# What a stock cloud image already carries and the provisioning path relies on.
DEFAULT_PACKAGES = (
    "python3-venv", "cloud-init", "openssh-server", "sudo", "iproute2", "procps", "curl",
    "gnupg", "iptables", "kmod", "less",
)  # fmt: skip

# cloud-init settings that make a container behave like an instance booting from a
# NoCloud seed: never probe the metadata address, no network config, and no modules that
# need a block device or that the image handles itself (ssh host keys: see hardening).
TWIN_CLOUD_CFG = """\
# Written by golden base-image: the local twin boots from a NoCloud seed only.
datasource_list: [ NoCloud, None ]
network: {config: disabled}
locale: C.UTF-8
cloud_init_modules: [seed_random, bootcmd, write_files, set_hostname, update_hostname,
                     update_etc_hosts, ca_certs, rsyslog, users_groups]
cloud_config_modules: [locale, timezone, runcmd]
cloud_final_modules: [scripts_per_once, scripts_per_boot, scripts_per_instance,
                      scripts_user, final_message]
"""

# Run inside the stage-1 container: install the rest, then make the tree boot like a
# fresh instance (a machine id per container, NoCloud, no leftovers). Units masked: a
# container has no console and no udev; systemd-sysctl would write /usr/lib/sysctl.d's
# host-wide kernel.* and fs.* keys into the HOST's kernel (/proc/sys is writable in the
# twin), so Salt applies the namespaced keys itself.
CONFIGURE_SCRIPT = """\
set -eu
export DEBIAN_FRONTEND=noninteractive
cat > /etc/apt/sources.list <<'SOURCES'
{sources}SOURCES
# A mirror's passing error is retried, not a failed image.
apt-get -o Acquire::Retries=5 update -qq
apt-get -o Acquire::Retries=5 upgrade -y -q --with-new-pkgs
apt-get -o Acquire::Retries=5 install -y -q --no-install-recommends {packages}
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log
mkdir -p /etc/cloud/cloud.cfg.d /var/lib/dbus
cat > /etc/cloud/cloud.cfg.d/90-golden-twin.cfg <<'CFG'
{cloud_cfg}CFG
: > /etc/machine-id
ln -sf /etc/machine-id /var/lib/dbus/machine-id
for unit in getty@tty1.service systemd-udevd.service systemd-udev-trigger.service \\
            systemd-sysctl.service; do
  ln -sf /dev/null /etc/systemd/system/$unit
done
rm -f /etc/ssh/ssh_host_*
"""

# The security suite lives in an archive of its own on both distributions.
SUITE_DEFAULTS = {
    "bookworm": {"mirror": "http://deb.debian.org/debian", "components": "main",
                 "security_mirror": "http://deb.debian.org/debian-security"},
    "jammy": {"mirror": "http://archive.ubuntu.com/ubuntu", "components": "main,universe",
              "security_mirror": "http://security.ubuntu.com/ubuntu"},
}  # fmt: skip


@dataclass(frozen=True)
class BaseImageSpec:
    suite: str = "bookworm"
    mirror: str | None = None
    components: str | None = None
    security_mirror: str | None = None
    packages: tuple[str, ...] = field(default=DEFAULT_PACKAGES)
    core_packages: tuple[str, ...] = field(default=CORE_PACKAGES)
    name: str | None = None

    def resolved(self) -> BaseImageSpec:
        defaults = SUITE_DEFAULTS.get(self.suite)
        if defaults is None and not (self.mirror and self.components and self.security_mirror):
            raise ConfigError(
                f"suite {self.suite!r}: unknown; give --mirror, --components and "
                f"--security-mirror (known suites: {', '.join(SUITE_DEFAULTS)})"
            )
        defaults = defaults or {}
        return BaseImageSpec(
            suite=self.suite,
            mirror=self.mirror or defaults["mirror"],
            components=self.components or defaults["components"],
            security_mirror=self.security_mirror or defaults["security_mirror"],
            packages=self.packages,
            core_packages=self.core_packages,
            name=self.name or f"golden/base:{self.suite}",
        )


def sources_list(spec: BaseImageSpec) -> str:
    """/etc/apt/sources.list of a resolved spec: the release and its -updates suite from
    the mirror, the -security suite from the security mirror, each with the spec's
    components (what a Debian or Ubuntu cloud image lists)."""
    components = " ".join(c for c in (spec.components or "").split(",") if c)
    return (
        f"deb {spec.mirror} {spec.suite} {components}\n"
        f"deb {spec.mirror} {spec.suite}-updates {components}\n"
        f"deb {spec.security_mirror} {spec.suite}-security {components}\n"
    )


def inputs_hash(spec: BaseImageSpec) -> str:
    """Same spec -> same hash: lets a second `make base-image` reuse the image."""
    payload = json.dumps(asdict(spec), sort_keys=True) + CONFIGURE_SCRIPT + TWIN_CLOUD_CFG
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def debootstrap_argv(spec: BaseImageSpec, target: str) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        f"--components={spec.components}",
        f"--include={','.join(spec.core_packages)}",
        spec.suite,
        target,
        spec.mirror,
    ]


def import_changes(spec: BaseImageSpec) -> list[str]:
    return [
        'CMD ["/sbin/init"]',
        "ENV container=docker",
        f"LABEL {INPUTS_LABEL}={inputs_hash(spec)}",
        f"LABEL io.golden.base.suite={spec.suite}",
    ]


def configure_script(spec: BaseImageSpec) -> str:
    return CONFIGURE_SCRIPT.format(packages=" ".join(spec.packages), cloud_cfg=TWIN_CLOUD_CFG,
                                   sources=sources_list(spec))


def build(spec: BaseImageSpec, *, force: bool = False, workdir: str = "build") -> dict:
    spec = spec.resolved()
    wanted = inputs_hash(spec)
    if not force and containers.image_label(spec.name, INPUTS_LABEL) == wanted:
        info = containers.image_inspect(spec.name)
        eprint(f"base image {spec.name} is up to date ({wanted})")
        return {"image": spec.name, "id": info["Id"], "built": False, "seconds": 0.0}
    which_or_fail("debootstrap", "apt-get install debootstrap")
    which_or_fail("docker", "install Docker and start dockerd")
    started = time.monotonic()
    Path(workdir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="rootfs-", dir=workdir))
    log = Path(workdir) / f"base-image-{spec.suite}.log"
    log.unlink(missing_ok=True)
    try:
        eprint(f"debootstrap {spec.suite} from {spec.mirror} (log: {log})")
        count = 0

        def progress(line: str) -> None:
            nonlocal count
            count += 1
            if line.startswith("I: Retrieving") and count % 40:
                return
            if line.startswith(("I: Validating", "I: Unpacking", "I: Configuring")) and count % 40:
                return
            eprint(f"  [{time.monotonic() - started:5.0f}s] {line}")

        stream(
            debootstrap_argv(spec, str(tmp)),
            on_line=progress,
            log_path=str(log),
            what="debootstrap",
        )
        stage1 = f"{spec.name}-stage1"
        containers.import_rootfs(["tar", "--numeric-owner", "-C", str(tmp), "-c", "."], [], stage1)
    finally:
        run(["rm", "-rf", "--one-file-system", str(tmp)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    eprint(f"installing {len(spec.packages)} packages and configuring for the twin")
    builder = f"golden-base-build-{spec.suite}"
    containers.remove_container(builder)
    try:
        stream(
            ["docker", "run", "--name", builder, stage1, "/bin/sh", "-c", configure_script(spec)],
            on_line=progress,
            log_path=str(log),
            what="base image configuration",
        )
        argv = ["docker", "commit"]
        for change in import_changes(spec):
            argv += ["-c", change]
        image_id = run(argv + [builder, spec.name], what="docker commit").stdout.decode().strip()
    finally:
        containers.remove_container(builder)
        run(["docker", "image", "rm", stage1], check=False)
    seconds = time.monotonic() - started
    eprint(f"base image {spec.name} built in {seconds:.0f}s")
    return {"image": spec.name, "id": image_id, "built": True, "seconds": round(seconds, 1)}
