"""`golden app-images build`: the sample application's images for the local twin.

The real AGENT app is not in this repository; tests/sample_app/ stands in for it with the
same shape (FastAPI under gunicorn + uvicorn workers, a static Next.js-style frontend). Its
images are built with no registry: wheels are made on the host, a container is started
from the local base image (`golden base-image`), the wheels are installed with
`--no-index`, and the container is committed. Both images then go into one `docker save`
archive plus a JSON manifest of image ids, which is how the twin (and a bake) receives
them: loaded from the archive, pinned by id.

Decisions (what to build, what the image's config is, what the manifest says) are pure
functions below; docker and pip calls go through golden.containers / golden.shell."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from golden.core import containers, locks
from golden.core.errors import ConfigError, OperationFailed, PreflightError
from golden.core.shell import eprint, run, stream, which_or_fail
from golden.twin import imagepython

DEFAULT_BASE = "golden/base:bookworm"
DEFAULT_OUT = "build/images"
DEFAULT_WHEELHOUSE = "build/wheelhouse-sample"
# Written into each wheelhouse: the lock for the target, with the hashes of wheels built here.
INSTALL_REQUIREMENTS = "install-requirements.txt"
DEFAULT_SOURCE = Path(__file__).resolve().parents[3] / "tests" / "sample_app"
ARCHIVE_NAME = "sample-app.tar"
MANIFEST_NAME = "sample-app.json"
INPUTS_LABEL = "io.golden.sample.inputs"
COMPONENT_LABEL = "io.golden.sample.component"
APP_UID = 10001
VENV = "/opt/venv"
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
IGNORED_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class Component:
    name: str
    ref: str
    port: int
    cmd: tuple[str, ...]
    health_path: str


COMPONENTS: tuple[Component, ...] = (
    Component(
        name="backend",
        ref="golden-sample/backend:dev",
        port=8000,
        cmd=("gunicorn", "-c", "/app/gunicorn.conf.py"),
        health_path="/health",
    ),
    Component(
        name="frontend",
        ref="golden-sample/frontend:dev",
        port=3000,
        cmd=("python", "-m", "sample_frontend"),
        health_path="/health",
    ),
)

# Runs inside the build container as root. python3-venv is part of the base image, but a
# base built without it still works: apt reaches the Debian mirror from containers.
# pip itself is removed at the end: the image never installs anything at run time.
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
{venv}/bin/python -m compileall -q /app
getent group app >/dev/null || groupadd --system --gid {uid} app
getent passwd app >/dev/null || useradd --no-log-init --uid {uid} --gid {uid} \\
    --home-dir /app --no-create-home --shell /usr/sbin/nologin app
# Code and venv stay root-owned: the app user can read and run them, not change them.
chown -R root:root /app {venv}
chmod -R a+rX,go-w /app {venv}
rm -rf /tmp/wheels /root/.cache /var/cache/debconf/*-old
find {venv} -name 'direct_url.json' -delete
echo "venv: $(du -sm {venv} | cut -f1) MB, app: $(du -sm /app | cut -f1) MB"
"""


# -- pure decisions ---------------------------------------------------------------------------


_CHANGES_TEMPLATE = (
    f"ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV PYTHONUNBUFFERED=1",
    "ENV PYTHONDONTWRITEBYTECODE=1",
    "WORKDIR /app",
    f"USER {APP_UID}:{APP_UID}",
    "EXPOSE {port}/tcp",
    "CMD {cmd}",
    "HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 CMD {probe}",
    "LABEL " + INPUTS_LABEL + "={inputs}",
    "LABEL " + COMPONENT_LABEL + "={name}",
    "LABEL org.opencontainers.image.title=golden-sample-{name}",
    'LABEL org.opencontainers.image.description="Sample {name} for the golden image\'s twin"',
)


def source_files(component_dir: Path) -> list[Path]:
    """Every file that goes into the image, in a stable order; caches are not inputs."""
    files = []
    for path in sorted(component_dir.rglob("*")):
        rel = path.relative_to(component_dir)
        if path.is_dir() or IGNORED_PARTS.intersection(rel.parts):
            continue
        if path.suffix in IGNORED_SUFFIXES:
            continue
        files.append(rel)
    return files


def inputs_hash(component: Component, base_id: str, files: dict[str, bytes]) -> str:
    """Same code, requirements, base image and recipe -> same hash -> no rebuild."""
    h = hashlib.sha256()
    recipe = json.dumps(
        {"component": component.__dict__, "script": BUILD_SCRIPT, "changes": _CHANGES_TEMPLATE},
        sort_keys=True,
    )
    for part in (recipe, base_id):
        h.update(part.encode() + b"\0")
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()[:20]


def commit_changes(component: Component, inputs: str) -> list[str]:
    """The image config `docker commit` sets (Dockerfile syntax). The stop signal is set on
    the build container instead: `docker commit` does not accept STOPSIGNAL."""
    probe_code = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{component.port}{component.health_path}', "
        "timeout=2)"
    )
    probe = json.dumps(["python", "-c", probe_code])
    return [
        change.format(
            port=component.port,
            cmd=json.dumps(list(component.cmd)),
            probe=probe,
            inputs=inputs,
            name=component.name,
        )
        for change in _CHANGES_TEMPLATE
    ]


def plan(
    components: tuple[Component, ...],
    wanted: dict[str, str],
    current_labels: dict[str, str | None],
    force: bool,
) -> dict[str, str]:
    """Per component: "build" or "reuse"."""
    return {
        c.name: "reuse" if not force and current_labels.get(c.name) == wanted[c.name] else "build"
        for c in components
    }


def manifest(images: dict[str, dict[str, str]], archive: dict | None = None) -> dict:
    """What pillar reads: per component the tag and the image id (its config digest, which
    `docker load` reproduces exactly, so the twin can pin by it), and the images' CPU
    architecture (Docker's name, as `docker image inspect` .Architecture: amd64, arm64)
    when the images say it: the state tree refuses an archive for another machine
    (salt/app/images.sls) and a bake for another ``arch`` refuses it in preflight.
    Raises ConfigError when the images disagree on their architecture."""
    doc: dict = {
        "images": {
            name: {"ref": info["ref"], "id": info["id"],
                   **({"python_packages": info["python_packages"]}
                      if info.get("python_packages") else {})}
            for name, info in sorted(images.items())
        }
    }  # fmt: skip
    architectures = {info["architecture"] for info in images.values() if info.get("architecture")}
    if len(architectures) > 1:
        raise ConfigError(
            "the archive's images are built for different architectures: "
            + ", ".join(f"{n} {i.get('architecture')}" for n, i in sorted(images.items()))
        )
    if architectures:
        doc["architecture"] = architectures.pop()
    if archive:
        doc["archive"] = archive
    return doc


def archive_is_current(existing: dict | None, images: dict[str, dict[str, str]], tar: Path) -> bool:
    if not existing or not tar.is_file():
        return False
    recorded = existing.get("images") or {}
    if recorded != manifest(images)["images"]:
        return False
    size = (existing.get("archive") or {}).get("bytes")
    return size == tar.stat().st_size


def wheel_command(
    python: str, requirements: Path, out: Path, host_py: str, target_py: str, machine: str
) -> list[str]:
    """Wheels for the base image's Python: built locally when the host's Python matches,
    otherwise downloaded as binary wheels for the target's tags (nothing is compiled)."""
    pip = [python, "-m", "pip"]
    if host_py == target_py:
        return [*pip, "wheel", "--no-deps", "--require-hashes", "-q", "-w", str(out),
                "-r", str(requirements)]  # fmt: skip
    nodot = target_py.replace(".", "")
    argv = [*pip, "download", "--no-deps", "--require-hashes", "-q", "-d", str(out),
            "--only-binary=:all:"]  # fmt: skip
    argv += ["--implementation", "cp", "--python-version", target_py]
    argv += ["--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none"]
    for tag in ("manylinux_2_28", "manylinux_2_17", "manylinux2014", "linux"):
        argv += ["--platform", f"{tag}_{machine}"]
    return argv + ["-r", str(requirements)]


# -- adapters -------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, message: str) -> None:
        eprint(f"[{time.monotonic() - self.start:6.1f}s] {message}")


def _read_files(component_dir: Path) -> dict[str, bytes]:
    return {str(rel): (component_dir / rel).read_bytes() for rel in source_files(component_dir)}


@dataclass(frozen=True)
class BaseFacts:
    python: str  # major.minor of the base image's python3
    machine: str  # x86_64, aarch64
    has_venv: bool  # python3-venv (ensurepip) present


_PROBE = (
    "import importlib.util, platform, sys; "
    "print(f'{sys.version_info[0]}.{sys.version_info[1]}', platform.machine(), "
    "int(importlib.util.find_spec('ensurepip') is not None))"
)


def probe_base(base: str) -> BaseFacts:
    argv = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "python3", base]
    out = run([*argv, "-c", _PROBE], what=f"python3 in {base}").stdout.decode().split()
    return BaseFacts(python=out[0], machine=out[1], has_venv=out[2] == "1")


def _wheelhouse(
    component: Component, requirements: Path, root: Path, target: BaseFacts, clock: _Clock
) -> Path:
    host_py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    target_py, machine = target.python, target.machine
    stamp_text = hashlib.sha256(
        (f"{target_py} {machine}\n").encode() + requirements.read_bytes()
    ).hexdigest()
    out = root / component.name
    stamp = out / ".inputs"
    if stamp.is_file() and stamp.read_text().strip() == stamp_text:
        clock.say(f"{component.name}: wheelhouse {out} is up to date")
        return out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    unmarked = tmp / "requirements-unmarked.txt"
    lock_text = requirements.read_text()
    unmarked.write_text(
        imagepython.wheelhouse_requirements(lock_text, target_py, machine, str(requirements))
    )
    how = "building" if host_py == target_py else f"downloading (host {host_py}) wheels"
    clock.say(f"{component.name}: {how} wheels for Python {target_py} {machine} into {out}")
    stream(
        wheel_command(sys.executable, unmarked, tmp, host_py, target_py, machine),
        on_line=lambda line: (
            None if line.lstrip().startswith("WARNING: Location") else eprint(f"    {line}")
        ),
        what=f"pip wheel for the sample {component.name}",
    )
    unmarked.unlink()
    wheels = {w.name: locks.file_digest(w).split(":", 1)[1] for w in sorted(tmp.glob("*.whl"))}
    (tmp / INSTALL_REQUIREMENTS).write_text(
        imagepython.install_requirements(lock_text, target_py, machine, wheels, str(requirements))
    )
    (tmp / ".inputs").write_text(stamp_text + "\n")
    # Swapped in whole, so an interrupted run never leaves a half-filled wheelhouse behind.
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    wheels = len(list(out.glob("*.whl")))
    clock.say(f"{component.name}: {wheels} wheels, {mb(_tree_bytes(out))} MB")
    return out


def _stage_source(component_dir: Path, files: dict[str, bytes], dest: Path) -> None:
    for rel, data in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _build_one(
    component: Component,
    base: str,
    facts: BaseFacts,
    component_dir: Path,
    files: dict[str, bytes],
    wheels: Path,
    inputs: str,
    clock: _Clock,
) -> str:
    builder = f"golden-sample-build-{component.name}-{os.getpid()}"
    containers.remove_container(builder)
    staging = Path(tempfile.mkdtemp(prefix=f"sample-{component.name}-"))
    try:
        _stage_source(component_dir, files, staging / "app")
        # No network unless apt must fetch python3-venv: the wheels come from the host.
        # The stop signal is set on the container since `docker commit` cannot set one;
        # the command (not --entrypoint) is overridden, as a commit keeps the entrypoint.
        network = ["--network", "none"] if facts.has_venv else []
        argv = ["docker", "run", "-d", "--name", builder, *network, "--stop-signal", "SIGTERM"]
        run([*argv, base, "sleep", "infinity"], what=f"start {builder}")
        containers.copy_into(builder, str(staging / "app"), "/app")
        containers.copy_into(builder, str(wheels), "/tmp/wheels")
        clock.say(f"{component.name}: installing wheels offline into {VENV}")
        listing = imagepython.LIST_PACKAGES.format(venv=VENV)
        script = BUILD_SCRIPT.format(venv=VENV, uid=APP_UID, list_packages=listing)
        lines: list[str] = []
        stream(
            ["docker", "exec", builder, "/bin/sh", "-c", script],
            on_line=lambda line: (lines.append(line), eprint(f"    {line}")),
            what=f"install into the {component.name} image",
        )
        argv = ["docker", "commit"]
        label = imagepython.packages_label(imagepython.packages_listed(lines))
        for change in [*commit_changes(component, inputs), label]:
            argv += ["-c", change]
        image_id = run(argv + [builder, component.ref], what="docker commit").stdout.decode()
        return image_id.strip()
    finally:
        containers.remove_container(builder)
        shutil.rmtree(staging, ignore_errors=True)


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mb(n: int | float) -> float:
    return round(n / 1_000_000, 1)


def _sha256_file(path: Path) -> str:
    return locks.file_digest(path).split(":", 1)[1]


def _current_images(base_info: dict, wanted: dict[str, str]) -> dict[str, dict]:
    """The tagged images whose inputs label is the wanted one, with their ids and sizes."""
    images = {}
    for component in COMPONENTS:
        info = containers.image_inspect(component.ref)
        labels = ((info or {}).get("Config") or {}).get("Labels") or {}
        if info is None or labels.get(INPUTS_LABEL) != wanted[component.name]:
            continue
        images[component.name] = {
            "ref": component.ref,
            "id": info["Id"],
            "architecture": info.get("Architecture"),
            "bytes": info["Size"],
            "own_bytes": info["Size"] - base_info["Size"],
            "python_packages": imagepython.parse_packages(
                labels.get(imagepython.PACKAGES_LABEL)
            ),
        }
    return images


def _read_manifest(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _preflight(base: str, source: Path) -> dict:
    which_or_fail("docker", "install Docker and start dockerd")
    for component in COMPONENTS:
        req = source / component.name / "requirements.txt"
        if not req.is_file():
            raise ConfigError(f"--source {source}: {req} is missing (expected the pinned lock)")
    base_info = containers.image_inspect(base)
    if base_info is None:
        raise PreflightError(
            f"base image {base!r} not found: build it first with `golden base-image` "
            "(make base-image), or pass --base"
        )
    return base_info


def _build_stale(
    decisions: dict[str, str],
    *,
    base: str,
    source: Path,
    wheelhouse: Path,
    files: dict[str, dict[str, bytes]],
    wanted: dict[str, str],
    clock: _Clock,
) -> dict[str, float]:
    """Build every component the plan does not reuse, in COMPONENTS order, and drop the
    image each replaced; returns seconds per component built."""
    facts: BaseFacts | None = None
    seconds: dict[str, float] = {}
    for component in COMPONENTS:
        if decisions[component.name] == "reuse":
            clock.say(f"{component.name}: {component.ref} is up to date ({wanted[component.name]})")
            continue
        started = time.monotonic()
        previous = containers.image_inspect(component.ref)
        facts = facts or probe_base(base)
        component_dir = source / component.name
        wheels = _wheelhouse(
            component, component_dir / "requirements.txt", wheelhouse, facts, clock
        )
        image_id = _build_one(
            component,
            base,
            facts,
            component_dir,
            files[component.name],
            wheels,
            wanted[component.name],
            clock,
        )
        seconds[component.name] = round(time.monotonic() - started, 1)
        clock.say(f"{component.name}: committed {component.ref} ({image_id[7:19]})")
        if previous and previous["Id"] != image_id:
            # The replaced image is now untagged; drop it unless a container still uses it.
            run(["docker", "image", "rm", previous["Id"]], check=False)
    return seconds


def _write_archive(
    images: dict[str, dict], tar: Path, manifest_path: Path, clock: _Clock
) -> tuple[dict, bool]:
    """docker save IMAGES to TAR unless the manifest says TAR already holds them, then
    rewrite the manifest if it changed. Returns (the manifest's archive entry, whether
    TAR was written)."""
    existing = _read_manifest(manifest_path)
    archive_written = False
    if archive_is_current(existing, images, tar):
        clock.say(f"archive {tar} already holds these images")
        archive = existing["archive"]
    else:
        tar.parent.mkdir(parents=True, exist_ok=True)
        partial = tar.with_name(tar.name + ".partial")
        clock.say(f"docker save -> {tar}")
        run(
            ["docker", "save", "-o", str(partial), *(c.ref for c in COMPONENTS)], what="docker save"
        )
        archive = {
            "path": ARCHIVE_NAME,
            "bytes": partial.stat().st_size,
            "sha256": _sha256_file(partial),
        }
        partial.replace(tar)
        archive_written = True
    doc = manifest(images, archive)
    if doc != existing:
        tmp_manifest = manifest_path.with_name(manifest_path.name + ".tmp")
        tmp_manifest.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        tmp_manifest.replace(manifest_path)
    return archive, archive_written


def build(
    *,
    base: str = DEFAULT_BASE,
    out: str = DEFAULT_OUT,
    wheelhouse: str = DEFAULT_WHEELHOUSE,
    source: Path = DEFAULT_SOURCE,
    force: bool = False,
    dry_run: bool = False,
) -> dict:
    """Build (or reuse) both images, then write the archive and its manifest."""
    clock = _Clock()
    source = Path(source)
    base_info = _preflight(base, source)
    base_id = base_info["Id"]
    files = {c.name: _read_files(source / c.name) for c in COMPONENTS}
    wanted = {c.name: inputs_hash(c, base_id, files[c.name]) for c in COMPONENTS}
    labels = {c.name: containers.image_label(c.ref, INPUTS_LABEL) for c in COMPONENTS}
    decisions = plan(COMPONENTS, wanted, labels, force)
    out_dir = Path(out)
    tar, manifest_path = out_dir / ARCHIVE_NAME, out_dir / MANIFEST_NAME
    clock.say(
        f"base {base} ({base_id[7:19]}); "
        + ", ".join(f"{name}: {what}" for name, what in decisions.items())
    )
    if dry_run:
        unchanged = all(what == "reuse" for what in decisions.values()) and archive_is_current(
            _read_manifest(manifest_path), _current_images(base_info, wanted), tar
        )
        return {
            "dry_run": True,
            "base": {"ref": base, "id": base_id},
            "plan": decisions,
            "inputs": wanted,
            "archive": {"path": str(tar), "action": "keep" if unchanged else "write"},
            "manifest": str(manifest_path),
        }

    seconds = _build_stale(
        decisions,
        base=base,
        source=source,
        wheelhouse=Path(wheelhouse),
        files=files,
        wanted=wanted,
        clock=clock,
    )
    images = _current_images(base_info, wanted)
    missing = [c.ref for c in COMPONENTS if c.name not in images]
    if missing:
        raise OperationFailed(f"{', '.join(missing)} missing or stale after the build")
    archive, archive_written = _write_archive(images, tar, manifest_path, clock)
    total = round(time.monotonic() - clock.start, 1)
    clock.say(f"done in {total}s")
    return {
        "base": {"ref": base, "id": base_id},
        "images": {
            name: {
                **info,
                "action": "built" if name in seconds else "reused",
                "seconds": seconds.get(name, 0.0),
            }
            for name, info in images.items()
        },
        "archive": {**archive, "path": str(tar), "written": archive_written},
        "manifest": str(manifest_path),
        "seconds": total,
    }
