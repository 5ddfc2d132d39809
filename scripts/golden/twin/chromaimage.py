"""`golden chroma-image build`: the Chroma server's container image for the local twin.

On AWS the Chroma host runs an image pulled by digest (pillar chroma:image_source
registry) or loaded from an archive uploaded with the bake. No registry is reachable here,
so the image is made the way the sample app's are (golden.appimages): the `chromadb`
wheels are built on the host from a pinned lock (scripts/chroma-requirements.txt), a
container is started from the local base image, the wheels are installed with
`--no-index`, and the container is committed. The image then goes into a `docker save`
archive plus a JSON manifest of its image id, which the chroma formula loads and pins.

Decisions (what the image's config is, whether to rebuild) are pure functions; docker and
pip calls go through golden.containers / golden.shell and the helpers of golden.appimages."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from golden.core import containers, locks
from golden.core.errors import ConfigError, OperationFailed, PreflightError
from golden.core.shell import run, stream, which_or_fail
from golden.twin import appimages, imagepython

DEFAULT_BASE = appimages.DEFAULT_BASE
DEFAULT_OUT = "build/images"
DEFAULT_WHEELHOUSE = "build/wheelhouse-chroma"
LOCK = Path(__file__).resolve().parents[3] / "scripts" / "chroma-requirements.txt"
ARCHIVE_NAME = "chroma.tar"
MANIFEST_NAME = "chroma.json"
INPUTS_LABEL = "io.golden.chroma.inputs"
CHROMA_UID = 10002
VENV = "/opt/chroma"
DATA = "/data"

# The image listens where its environment says; the chroma formula sets the port from
# pillar, so one image serves any layout. The default binds loopback only: the
# authenticating proxy, not Chroma, is what other hosts reach.
COMPONENT = appimages.Component(
    name="chroma",
    ref="golden-sample/chroma:dev",
    port=8000,
    cmd=(
        "/bin/sh",
        "-c",
        "exec chroma run --host $GOLDEN_CHROMA_HOST --port $GOLDEN_CHROMA_PORT "
        "--path $GOLDEN_CHROMA_PATH",
    ),
    health_path="/api/v2/heartbeat",
)

# Runs inside the build container as root; nothing is fetched but (if the base lacks it)
# python3-venv from the Debian mirror. pip is removed at the end: the image never
# installs anything at run time.
BUILD_SCRIPT = """\
set -eu
export DEBIAN_FRONTEND=noninteractive
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "installing python3-venv with apt"
  apt-get -o Acquire::Retries=5 update -qq
  apt-get -o Acquire::Retries=5 install -y -q --no-install-recommends python3-venv
  apt-get clean
  rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log
fi
python3 -m venv {venv}
{venv}/bin/pip install --require-hashes --no-index --no-cache-dir --find-links /tmp/wheels \\
    --disable-pip-version-check -q -r /tmp/wheels/install-requirements.txt
{venv}/bin/pip check
{venv}/bin/pip uninstall -y -q pip setuptools 2>/dev/null || true
{list_packages}
getent group chroma >/dev/null || groupadd --system --gid {uid} chroma
getent passwd chroma >/dev/null || useradd --no-log-init --uid {uid} --gid {uid} \\
    --home-dir {data} --no-create-home --shell /usr/sbin/nologin chroma
install -d -o {uid} -g {uid} -m 0750 {data}
# The venv stays root-owned: the chroma user can run it, not change it.
chown -R root:root {venv}
chmod -R a+rX,go-w {venv}
rm -rf /tmp/wheels /root/.cache /var/cache/debconf/*-old
find {venv} -name 'direct_url.json' -delete
{venv}/bin/python -c 'import chromadb; print("chromadb", chromadb.__version__)'
echo "venv: $(du -sm {venv} | cut -f1) MB"
"""

_CHANGES_TEMPLATE = (
    f"ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV PYTHONUNBUFFERED=1",
    "ENV PYTHONDONTWRITEBYTECODE=1",
    # Plain log lines (no ANSI colours) for the log file CloudWatch ships.
    "ENV NO_COLOR=1",
    "ENV ANONYMIZED_TELEMETRY=False",
    "ENV GOLDEN_CHROMA_HOST=127.0.0.1",
    "ENV GOLDEN_CHROMA_PORT={port}",
    f"ENV GOLDEN_CHROMA_PATH={DATA}",
    f"WORKDIR {DATA}",
    f"USER {CHROMA_UID}:{CHROMA_UID}",
    "EXPOSE {port}/tcp",
    "CMD {cmd}",
    "HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD {probe}",
    "LABEL " + INPUTS_LABEL + "={inputs}",
    "LABEL io.golden.chroma.version={version}",
    "LABEL org.opencontainers.image.title=golden-chroma",
    'LABEL org.opencontainers.image.description="Chroma server for the golden image\'s twin"',
)


# -- pure decisions ---------------------------------------------------------------------------


def chromadb_version(lock: str) -> str:
    """The pinned chromadb version; the lock must pin exactly one 1.x release (and, like
    every lock, each entry with hashes: golden.core.locks.parse)."""
    for pin in locks.parse(lock, LOCK.name):
        if pin.name == "chromadb":
            if not pin.version.startswith("1."):
                raise ConfigError(f"{LOCK.name}: chromadb=={pin.version}: expected a 1.x pin")
            return pin.version
    raise ConfigError(f"{LOCK.name}: no `chromadb==VERSION` pin found")


def inputs_hash(base_id: str, lock: str) -> str:
    """Same lock, base image and recipe -> same hash -> no rebuild."""
    recipe = json.dumps(
        {
            "component": COMPONENT.__dict__,
            "script": BUILD_SCRIPT,
            "changes": _CHANGES_TEMPLATE,
            "uid": CHROMA_UID,
        },
        sort_keys=True,
    )
    h = hashlib.sha256()
    for part in (recipe, base_id, lock):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:20]


def commit_changes(inputs: str, version: str) -> list[str]:
    """The image config `docker commit` sets (Dockerfile syntax). The health probe follows
    the port the container is started with."""
    probe_code = (
        "import os, urllib.request; urllib.request.urlopen("
        "'http://%s:%s" + COMPONENT.health_path + "' % "
        "(os.environ['GOLDEN_CHROMA_HOST'], os.environ['GOLDEN_CHROMA_PORT']), timeout=2)"
    )
    return [
        change.format(
            port=COMPONENT.port,
            cmd=json.dumps(list(COMPONENT.cmd)),
            probe=json.dumps(["python", "-c", probe_code]),
            inputs=inputs,
            version=version,
        )
        for change in _CHANGES_TEMPLATE
    ]


def decide(wanted: str, current_label: str | None, force: bool) -> str:
    return "reuse" if not force and current_label == wanted else "build"


# -- adapters -------------------------------------------------------------------------------


def _build_image(
    base: str,
    facts: appimages.BaseFacts,
    wheels: Path,
    lock: Path,
    inputs: str,
    version: str,
    clock: appimages._Clock,
) -> str:
    builder = f"golden-chroma-build-{os.getpid()}"
    containers.remove_container(builder)
    try:
        # No network unless apt must fetch python3-venv: the wheels come from the host.
        network = ["--network", "none"] if facts.has_venv else []
        argv = ["docker", "run", "-d", "--name", builder, *network, "--stop-signal", "SIGTERM"]
        run([*argv, base, "sleep", "infinity"], what=f"start {builder}")
        containers.copy_into(builder, str(wheels), "/tmp/wheels")
        clock.say(f"chroma: installing chromadb {version} offline into {VENV}")
        listing = imagepython.LIST_PACKAGES.format(venv=VENV)
        script = BUILD_SCRIPT.format(venv=VENV, uid=CHROMA_UID, data=DATA, list_packages=listing)
        lines: list[str] = []
        stream(
            ["docker", "exec", builder, "/bin/sh", "-c", script],
            on_line=lambda line: (lines.append(line), clock.say(f"    {line}")),
            what="install into the chroma image",
        )
        argv = ["docker", "commit"]
        label = imagepython.packages_label(imagepython.packages_listed(lines))
        for change in [*commit_changes(inputs, version), label]:
            argv += ["-c", change]
        return run(argv + [builder, COMPONENT.ref], what="docker commit").stdout.decode().strip()
    finally:
        containers.remove_container(builder)


def _preflight(base: str, lock: Path) -> tuple[dict, str]:
    which_or_fail("docker", "install Docker and start dockerd")
    if not lock.is_file():
        raise ConfigError(f"{lock}: missing (expected the pinned chromadb lock)")
    base_info = containers.image_inspect(base)
    if base_info is None:
        raise PreflightError(
            f"base image {base!r} not found: build it first with `golden base-image` "
            "(make base-image), or pass --base"
        )
    return base_info, lock.read_text()


def _current(wanted: str) -> dict | None:
    info = containers.image_inspect(COMPONENT.ref)
    labels = ((info or {}).get("Config") or {}).get("Labels") or {}
    if info is None or labels.get(INPUTS_LABEL) != wanted:
        return None
    return {"ref": COMPONENT.ref, "id": info["Id"], "bytes": info["Size"],
            "architecture": info.get("Architecture"),
            "python_packages": imagepython.parse_packages(labels.get(imagepython.PACKAGES_LABEL))}


def build(
    *,
    base: str = DEFAULT_BASE,
    out: str = DEFAULT_OUT,
    wheelhouse: str = DEFAULT_WHEELHOUSE,
    lock: Path = LOCK,
    force: bool = False,
    dry_run: bool = False,
) -> dict:
    """Build (or reuse) golden-sample/chroma:dev, then write OUT/chroma.tar and its
    manifest OUT/chroma.json (image id)."""
    clock = appimages._Clock()
    lock = Path(lock)
    base_info, lock_text = _preflight(base, lock)
    version = chromadb_version(lock_text)
    wanted = inputs_hash(base_info["Id"], lock_text)
    action = decide(wanted, containers.image_label(COMPONENT.ref, INPUTS_LABEL), force)
    out_dir = Path(out)
    tar, manifest_path = out_dir / ARCHIVE_NAME, out_dir / MANIFEST_NAME
    clock.say(f"base {base} ({base_info['Id'][7:19]}); chromadb {version}: {action}")
    if dry_run:
        current = _current(wanted)
        keep = (
            action == "reuse"
            and current is not None
            and appimages.archive_is_current(
                appimages._read_manifest(manifest_path), {"chroma": current}, tar
            )
        )
        return {
            "dry_run": True,
            "base": {"ref": base, "id": base_info["Id"]},
            "chromadb": version,
            "plan": action,
            "inputs": wanted,
            "archive": {"path": str(tar), "action": "keep" if keep else "write"},
            "manifest": str(manifest_path),
        }

    seconds = 0.0
    if action == "build":
        started = time.monotonic()
        previous = containers.image_inspect(COMPONENT.ref)
        facts = appimages.probe_base(base)
        wheels = appimages._wheelhouse(COMPONENT, lock, Path(wheelhouse), facts, clock)
        image_id = _build_image(base, facts, wheels, lock, wanted, version, clock)
        seconds = round(time.monotonic() - started, 1)
        clock.say(f"chroma: committed {COMPONENT.ref} ({image_id[7:19]}) in {seconds}s")
        if previous and previous["Id"] != image_id:
            # The replaced image is now untagged; drop it unless a container still uses it.
            run(["docker", "image", "rm", previous["Id"]], check=False)
    else:
        clock.say(f"chroma: {COMPONENT.ref} is up to date ({wanted})")

    current = _current(wanted)
    if current is None:
        raise OperationFailed(f"{COMPONENT.ref} missing or stale after the build")
    images = {"chroma": {k: current[k] for k in ("ref", "id", "architecture", "python_packages")}}
    existing = appimages._read_manifest(manifest_path)
    written = False
    if appimages.archive_is_current(existing, images, tar):
        clock.say(f"archive {tar} already holds this image")
        archive = existing["archive"]
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        partial = tar.with_name(tar.name + ".partial")
        clock.say(f"docker save -> {tar}")
        run(["docker", "save", "-o", str(partial), COMPONENT.ref], what="docker save")
        archive = {
            "path": ARCHIVE_NAME,
            "bytes": partial.stat().st_size,
            "sha256": appimages._sha256_file(partial),
        }
        partial.replace(tar)
        written = True
    doc = appimages.manifest(images, archive)
    if doc != existing:
        tmp_manifest = manifest_path.with_name(manifest_path.name + ".tmp")
        tmp_manifest.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        tmp_manifest.replace(manifest_path)
    total = round(time.monotonic() - clock.start, 1)
    clock.say(f"done in {total}s")
    return {
        "base": {"ref": base, "id": base_info["Id"]},
        "chromadb": version,
        "image": {
            **current,
            "own_bytes": current["bytes"] - base_info["Size"],
            "action": "built" if action == "build" else "reused",
            "seconds": seconds,
        },
        "archive": {**archive, "path": str(tar), "written": written},
        "manifest": str(manifest_path),
        "seconds": total,
    }
