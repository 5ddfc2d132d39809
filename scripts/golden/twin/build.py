"""The local twin: the image built by the one provisioning path inside a systemd
container, and instances of it booted on a docker network of their own.

Never host networking: the image's firewall, sysctls and inner dockerd would act on this
machine. Everything a user touches is published on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from golden.bake import staging
from golden.bake.record import packages_entry
from golden.core import containers, provenance
from golden.core.errors import ConfigError, OperationFailed
from golden.core.shell import eprint, run, stream, wait_until
from golden.twin import baseimage, wheelhouse

REPO = provenance.REPO
NETWORK = "golden-twin"
# Matches pillar/twin.sls nginx:lb_cidrs: requests published on 127.0.0.1 reach the twin
# from this network's gateway, the twin's "load balancer".
SUBNET = "172.28.16.0/24"
ROLES = ("app", "chroma")
STAGE_REMOTE = "/var/tmp/golden"
# The port inside the twin that serves /healthz: the app's nginx, the chroma proxy
# (pillar chroma:proxy_port).
GUEST_PORTS = {"app": 80, "chroma": 8000}
# The boot step's unit (salt/golden): a oneshot without restarts, so "failed" is final and
# /healthz will not come; `up` stops waiting then. Checked every BOOT_CHECK_SECONDS (a
# `docker exec`), not at each /healthz poll.
BOOT_UNIT = "golden-boot"
BOOT_CHECK_SECONDS = 2.0
BOOT_JOURNAL_LINES = 20


def image_name(role: str) -> str:
    return f"golden/twin-{role}:latest"


@dataclass(frozen=True)
class TwinSpec:
    role: str = "app"
    name: str = "golden-twin-app"
    port: int = 8080
    image: str | None = None
    seed_dir: str | None = None
    labels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if self.role not in ROLES:
            raise ConfigError(f"--role: expected one of {', '.join(ROLES)}, got {self.role!r}")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"--port: expected 1..65535, got {self.port}")


def stage(
    role: str, out: Path, app_images: Path | None = None, ca_bundle: Path | None = None
) -> Path:
    """Lay out what a build uploads: the same folder for the twin and for Packer
    (golden.staging decides what goes in). ``app_images`` is the role's archive (its
    folder holds the role's .tar and .json); default build/images."""
    entries = staging.plan(staging.Inputs(
        repo=REPO, role=role,
        images=Path(app_images).parent if app_images is not None else None,
        ca_bundle=ca_bundle,
    ))  # fmt: skip
    problems = staging.problems(entries)
    if problems:
        raise OperationFailed("build inputs missing:\n  " + "\n  ".join(problems))
    return staging.lay_out(entries, out, provenance.collect(role))


INPUTS_LABEL = "io.golden.twin.inputs"


def inputs_hash(staged: Path, base_id: str) -> str:
    """What the twin image is made of: the staged upload (minus its build time) and the
    base image. Same inputs, same image: a second build is skipped."""
    digest = hashlib.sha256(base_id.encode())
    for path in sorted(staged.rglob("*")):
        if path.is_file() and path.name != "provenance.json":
            digest.update(str(path.relative_to(staged)).encode())
            if path.suffix in (".tar", ".whl") and path.stat().st_size > 1 << 20:
                digest.update(str(path.stat().st_size).encode())
            else:
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def wait_for_systemd(name: str, timeout: float = 60) -> None:
    def booted() -> bool:
        proc = run(["docker", "exec", name, "systemctl", "is-system-running"], check=False)
        return proc.stdout.decode().strip() in ("running", "degraded")

    wait_until(booted, timeout=timeout, interval=0.5, what=f"systemd in {name} to boot")


def build(role: str = "app", *, base_image: str | None = None, keep: bool = False,
          ca_bundle: Path | None = None, force: bool = False) -> dict:
    """Build the twin image for ``role`` through scripts/provision.sh; returns a record."""
    if role not in ROLES:
        raise ConfigError(f"--role: expected one of {', '.join(ROLES)}, got {role!r}")
    started = time.monotonic()
    base = baseimage.build(baseimage.BaseImageSpec())["image"] if base_image is None else base_image
    wheelhouse.build(str(REPO / "build" / "wheelhouse"))
    archive = None
    if role == "app":
        from golden.twin import appimages

        built = appimages.build(
            base=base,
            out=str(REPO / "build" / "images"),
            wheelhouse=str(REPO / "build" / "wheelhouse-sample"),
        )
        archive = Path(built["archive"]["path"])
    if role == "chroma":
        from golden.twin import chromaimage

        built = chromaimage.build(
            base=base,
            out=str(REPO / "build" / "images"),
            wheelhouse=str(REPO / "build" / "wheelhouse-chroma"),
        )
        archive = Path(built["archive"]["path"])
    if ca_bundle is None and (REPO / ".state" / "local" / "tls" / "ca.pem").exists():
        ca_bundle = REPO / ".state" / "local" / "tls" / "ca.pem"
    staged = stage(role, REPO / "build" / f"stage-{role}", archive, ca_bundle)
    wanted = inputs_hash(staged, containers.image_inspect(base)["Id"])
    if not force and containers.image_label(image_name(role), INPUTS_LABEL) == wanted:
        eprint(f"twin image {image_name(role)} is up to date ({wanted})")
        return {"image": image_name(role), "id": containers.image_inspect(image_name(role))["Id"],
                "role": role, "built": False, "seconds": round(time.monotonic() - started, 1)}
    labels = {**provenance.collect(role), "inputs": wanted}
    return provision_image(staged, role=role, base=base, ref=image_name(role), labels=labels,
                           builder=f"golden-build-{role}", keep=keep, started=started)


def provision_image(staged: Path, *, role: str, base: str, ref: str, labels: dict[str, str],
                    builder: str, keep: bool = False,
                    log: Path | None = None, started: float | None = None) -> dict:  # fmt: skip
    """Run scripts/provision.sh from the ``staged`` upload in a systemd container
    ``builder`` of ``base`` and commit it as ``ref`` (labels io.golden.twin.KEY=VALUE).
    The image suite runs inside the build, as in every bake. ``log``: the provisioning
    log (default build/twin-build-ROLE.log).
    Returns the build record {image, id, role, tests, packages, seconds, log}; raises
    OperationFailed when a step fails (the builder is removed unless ``keep``)."""
    started = time.monotonic() if started is None else started
    containers.network_ensure(NETWORK, SUBNET)
    containers.remove_container(builder)
    log = log or REPO / "build" / f"twin-build-{role}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    eprint(f"building {ref} in container {builder} (log: {log})")
    run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            builder,
            "--hostname",
            builder,
            "--network",
            NETWORK,
            *containers.SYSTEMD_RUN_FLAGS,
            base,
            "/sbin/init",
        ],
        what="docker run (build container)",
    )
    try:
        wait_for_systemd(builder)
        containers.copy_into(builder, str(staged), STAGE_REMOTE)
        tests = {}

        def progress(line: str) -> None:
            if line.startswith("golden-provision: tests "):
                tests.update(kv.split("=") for kv in line.split()[2:])
            if (
                line.startswith(("==>", "golden-provision:", "ERROR", "FAILED"))
                or "Failed:" in line
                or "Succeeded:" in line
            ):
                eprint(f"  [{time.monotonic() - started:5.0f}s] {line}")

        stream(
            [
                "docker",
                "exec",
                builder,
                "bash",
                f"{STAGE_REMOTE}/provision.sh",
                "--role",
                role,
                "--platform",
                "twin",
                "--src",
                STAGE_REMOTE,
            ],
            on_line=progress,
            log_path=str(log),
            what=f"provisioning {role}",
        )
        packages = _copy_package_record(builder, role)
        run(["docker", "stop", "--time", "30", builder], what="docker stop (build container)")
        argv = ["docker", "commit", "-c", 'CMD ["/sbin/init"]', "-c", "ENV container=docker"]
        for key, value in labels.items():
            argv += ["-c", f"LABEL io.golden.twin.{key.replace('_', '-')}={value}"]
        image_id = run(argv + [builder, ref], what="docker commit").stdout
    finally:
        if not keep:
            containers.remove_container(builder)
    seconds = time.monotonic() - started
    eprint(f"twin image {ref} built in {seconds:.0f}s")
    return {
        "image": ref,
        "id": image_id.decode().strip(),
        "role": role,
        "tests": tests,
        "packages": packages,
        "seconds": round(seconds, 1),
        "log": str(log),
    }


def _copy_package_record(builder: str, role: str) -> dict | None:
    """The image's package record (/etc/golden/packages.json) beside the build log, and
    its summary for the build's result (the full list stays in the file)."""
    dest = REPO / "build" / f"twin-packages-{role}.json"
    dest.unlink(missing_ok=True)
    containers.copy_from(builder, "/etc/golden/packages.json", str(dest))
    entry = packages_entry(json.loads(dest.read_text()), dest)
    if entry:
        entry.pop("installed")
    return entry


def healthz(port: int, path: str = "/healthz", timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def up(spec: TwinSpec, *, wait: float = 90) -> dict:
    """Boot a twin instance and wait until /healthz answers 200 through its nginx and
    systemd has no job left, at most ``wait`` seconds; its name, image, URL and times
    (seconds). ConfigError when the image is missing; BootFailed (an OperationFailed) as
    soon as the boot step has failed, with its journal's last lines; OperationFailed at the
    timeout, with the failed units."""
    image = spec.image or image_name(spec.role)
    if containers.image_inspect(image) is None:
        raise ConfigError(f"image {image} not found: run `make image ROLE={spec.role}` first")
    containers.network_ensure(NETWORK, SUBNET)
    containers.remove_container(spec.name)
    argv = [
        "docker",
        "run",
        "-d",
        "--name",
        spec.name,
        "--hostname",
        spec.name,
        "--network",
        NETWORK,
        "-p",
        f"127.0.0.1:{spec.port}:{GUEST_PORTS[spec.role]}",
        *containers.SYSTEMD_RUN_FLAGS,
    ]
    if spec.seed_dir:
        argv += ["-v", f"{Path(spec.seed_dir).resolve()}:/var/lib/cloud/seed/nocloud:ro"]
    for key, value in spec.labels:
        argv += ["--label", f"{key}={value}"]
    started = time.monotonic()
    run(argv + [image, "/sbin/init"], what=f"docker run {spec.name}")
    eprint(f"twin {spec.name} started; waiting for http://127.0.0.1:{spec.port}/healthz")
    try:
        seconds = wait_until(
            _healthy_unless_boot_failed(spec, started),
            timeout=wait,
            interval=0.2,
            what=f"{spec.name} /healthz to answer 200",
        )
        # /healthz answers while app.service is still in its `compose up --wait`: the
        # instance has booted only once systemd has no job left (else drift, a hotfix or
        # a test would catch units starting).
        wait_until(
            lambda: not _systemd_jobs(spec.name),
            timeout=max(5.0, wait - (time.monotonic() - started)),
            interval=0.5,
            what=f"{spec.name} to finish starting (systemctl list-jobs empty)",
        )
    except BootFailed:
        raise
    except OperationFailed:
        state = _failed_units(spec.name)
        status = healthz(spec.port)
        what = (
            f"/healthz not 200 after {wait:.0f}s (it answered {status})"
            if status != 200
            else f"still starting {', '.join(_systemd_jobs(spec.name))} after {wait:.0f}s"
        )
        raise OperationFailed(f"{spec.name}: {what}; failed units:\n{state or '(none)'}") from None
    return {
        "name": spec.name,
        "image": image,
        "url": f"http://127.0.0.1:{spec.port}",
        "healthy_after_s": round(time.monotonic() - started, 2),
        "wait_s": round(seconds, 2),
    }


class BootFailed(OperationFailed):
    """The twin's boot step failed: /healthz will not answer (see _healthy_unless_boot_failed)."""


def _healthy_unless_boot_failed(spec: TwinSpec, started: float):
    """A predicate for wait_until: True once /healthz answers 200; raises BootFailed
    (naming the boot unit, with its journal's last lines and the failed units) as soon as
    the boot step has failed, instead of waiting out the timeout."""
    next_check = [0.0]

    def predicate() -> bool:
        if healthz(spec.port) == 200:
            return True
        now = time.monotonic()
        if now < next_check[0]:
            return False
        next_check[0] = now + BOOT_CHECK_SECONDS
        state = run(["docker", "exec", spec.name, "systemctl", "is-failed", BOOT_UNIT],
                    check=False).stdout.decode().strip()  # fmt: skip
        if state != "failed":
            return False
        journal = run(
            ["docker", "exec", spec.name, "journalctl", "-u", BOOT_UNIT, "-b", "--no-pager",
             "-o", "cat", "-n", str(BOOT_JOURNAL_LINES)],
            check=False,
        ).stdout.decode().rstrip()  # fmt: skip
        raise BootFailed(
            f"{spec.name}: the boot step ({BOOT_UNIT}) failed {now - started:.0f}s after the "
            f"start, so /healthz will not answer; its last journal lines:\n"
            f"{journal or '(none)'}\nfailed units:\n{_failed_units(spec.name) or '(none)'}"
        )

    return predicate


def _failed_units(name: str) -> str:
    return run(["docker", "exec", name, "systemctl", "--failed", "--no-legend"],
               check=False).stdout.decode().strip()  # fmt: skip


def _systemd_jobs(name: str) -> list[str]:
    """Units systemd in the container is still starting or stopping."""
    proc = run(["docker", "exec", name, "systemctl", "list-jobs", "--no-legend", "--plain"],
               check=False)  # fmt: skip
    return [line.split()[1] for line in proc.stdout.decode().splitlines() if len(line.split()) > 1]


def down(name: str) -> dict:
    existed = containers.container_state(name) is not None
    containers.remove_container(name)
    return {"name": name, "removed": existed}
