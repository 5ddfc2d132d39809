"""`golden byo-images build`: the images of a real FastAPI backend and a real Next.js app
(examples/), built from their own Dockerfiles, for a twin or a bake that runs them instead
of the sample (docs/app-contract.md, "Bring your own app").

Each image is built the way its team would build it, with two differences this machine
forces (/work/shared/notes/build-machine.md): no registry can be pulled from, so both
Dockerfiles start from the local base image (`golden base-image`, Debian 12); and package
registries are reachable from the host only, so the host prepares what the Dockerfile
copies in: the FastAPI image's wheels (`pip wheel`, hash-checked), the Next.js app's
`npm ci` + `next build` output (`output: 'standalone'`). The Next.js image installs
Debian's `nodejs` (18.x in bookworm) with apt.

Both images go into one `docker save` archive (build/images/byo-app.tar) and a manifest
of their ids (byo-app.json), under the keys `api` and `web` that the pillar declaration
(examples/golden-pillar.yaml) names. A rebuild is skipped when an image's inputs (its
folder's files, the base image, the host's toolchain versions) are unchanged: they are
hashed into the label io.golden.byo.inputs.

Decisions are pure functions; docker, pip, npm and node run through golden.core.shell."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from golden.bake import staging
from golden.core import containers, locks, provenance
from golden.core.errors import ConfigError, OperationFailed, PreflightError
from golden.core.shell import eprint, run, stream, which_or_fail
from golden.twin import appimages, wheelhouse
from golden.twin import build as twin

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
# The app role's pillar for the examples (app:services, the archive), merged into the
# role's pillar for a twin of them.
PILLAR_DECLARATION = EXAMPLES / "golden-pillar.yaml"
TWIN_IMAGE = "golden-byo/twin-app:latest"
TWIN_BUILDER = "golden-byo-build-app"
DEFAULT_BASE = appimages.DEFAULT_BASE
DEFAULT_OUT = "build/images"
DEFAULT_WORK = "build/byo"
ARCHIVE_NAME = "byo-app.tar"
MANIFEST_NAME = "byo-app.json"
INPUTS_LABEL = "io.golden.byo.inputs"
COMPONENT_LABEL = "io.golden.byo.component"
# Never inputs: what the host build makes inside a copy, and caches.
IGNORED_PARTS = {"node_modules", ".next", "wheels", "__pycache__", ".pytest_cache",
                 ".ruff_cache", ".mypy_cache"}  # fmt: skip
IGNORED_SUFFIXES = {".pyc", ".pyo"}
# No phoning home from the host's npm and Next.js build (the network rule).
NODE_ENV = {"NEXT_TELEMETRY_DISABLED": "1", "npm_config_update_notifier": "false",
            "npm_config_fund": "false", "npm_config_audit": "false"}  # fmt: skip
# Bounded: a hung registry or build fails the step instead of the whole run.
STEP_TIMEOUT = 900


@dataclass(frozen=True)
class ByoImage:
    name: str  # the manifest key, which app:services names as `image`
    ref: str
    source: str  # folder under examples/
    kind: str  # "python": wheels from the host; "node": npm ci + next build on the host


IMAGES: tuple[ByoImage, ...] = (
    ByoImage(name="api", ref="golden-byo/fastapi-app:dev", source="fastapi-app", kind="python"),
    ByoImage(name="web", ref="golden-byo/nextjs-app:dev", source="nextjs-app", kind="node"),
)


# -- pure decisions ---------------------------------------------------------------------------


def source_files(folder: Path) -> list[str]:
    """The files of an app's folder that make its image, relative, in a stable order:
    host build output (node_modules/, .next/, wheels/) and caches are not inputs."""
    found = []
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder)
        if path.is_dir() or IGNORED_PARTS.intersection(rel.parts):
            continue
        if path.suffix in IGNORED_SUFFIXES:
            continue
        found.append(rel.as_posix())
    return found


def inputs_hash(image: ByoImage, base_id: str, files: dict[str, bytes],
                tools: dict[str, str]) -> str:  # fmt: skip
    """Same files, base image and host toolchain (``tools``: name -> version, e.g. python
    3.11, node v20.20.2) -> same 20-hex-digit hash -> the image is reused."""
    digest = hashlib.sha256()
    recipe = json.dumps({"image": image.__dict__, "tools": tools, "base": base_id}, sort_keys=True)
    digest.update(recipe.encode() + b"\0")
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()[:20]


def required_files(image: ByoImage) -> tuple[str, ...]:
    """What an app's folder must hold for its kind of build."""
    if image.kind == "python":
        return ("Dockerfile", "requirements.txt")
    return ("Dockerfile", "package.json", "package-lock.json", "next.config.mjs")


def missing_inputs(image: ByoImage, files: list[str]) -> list[str]:
    return [name for name in required_files(image) if name not in files]


def merged_role_pillar(role_text: str, declaration: dict) -> str:
    """The role's pillar file (plain YAML) with each section of ``declaration`` merged in:
    its keys replace the role's (app:services replaces the sample's whole, as map.jinja
    does). Raises ConfigError when either is not a mapping of sections."""
    data = yaml.safe_load(role_text) or {}
    if not isinstance(data, dict) or not isinstance(declaration, dict):
        raise ConfigError("a role pillar and a declaration must be mappings of sections")
    for section, values in declaration.items():
        if not isinstance(values, dict):
            raise ConfigError(f"declaration: {section}: expected a mapping of keys")
        data[section] = {**(data.get(section) or {}), **values}
    return yaml.safe_dump(data, sort_keys=False)


def docker_build_argv(image: ByoImage, context: Path, base: str, inputs: str) -> list[str]:
    """The `docker build` of one image. The classic builder (DOCKER_BUILDKIT=0, set by the
    caller) resolves FROM against local images only; the FastAPI build needs no network
    (its wheels are in the context), the Next.js build fetches `nodejs` with apt."""
    argv = ["docker", "build", "--pull=false", "--build-arg", f"BASE={base}",
            "--label", f"{INPUTS_LABEL}={inputs}", "--label", f"{COMPONENT_LABEL}={image.name}",
            "-t", image.ref]  # fmt: skip
    if image.kind == "python":
        argv += ["--network", "none"]
    return [*argv, str(context)]


# -- adapters -------------------------------------------------------------------------------


def _say(started: float, message: str) -> None:
    eprint(f"[{time.monotonic() - started:6.1f}s] {message}")


def _tool_versions(kinds: set[str]) -> dict[str, str]:
    tools = {"python": f"{sys.version_info[0]}.{sys.version_info[1]}"}
    if "node" in kinds:
        which_or_fail("node", "install Node.js (18.18 or later) on the host")
        which_or_fail("npm", "install npm on the host")
        tools["node"] = run(["node", "--version"], what="node --version").stdout.decode().strip()
        tools["npm"] = run(["npm", "--version"], what="npm --version").stdout.decode().strip()
    return tools


def _read(folder: Path) -> dict[str, bytes]:
    return {rel: (folder / rel).read_bytes() for rel in source_files(folder)}


def _copy_sources(folder: Path, files: dict[str, bytes], dest: Path) -> None:
    for rel, data in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod((folder / rel).stat().st_mode & 0o777)


def _wheels(image: ByoImage, folder: Path, work: Path, base: str, started: float) -> Path:
    """The wheels of the app's lock for the base image's Python, in ``work``/wheels
    (kept between runs: rebuilt only when the lock or the target changes)."""
    facts = appimages.probe_base(base)
    host_py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    requirements = folder / "requirements.txt"
    stamp = hashlib.sha256(f"{facts.python} {facts.machine}\n".encode()
                           + requirements.read_bytes()).hexdigest()  # fmt: skip
    out = work / "wheels"
    if (out / ".inputs").is_file() and (out / ".inputs").read_text().strip() == stamp:
        _say(started, f"{image.name}: wheels in {out} are up to date")
        return out
    partial = work / "wheels.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _say(started, f"{image.name}: wheels for Python {facts.python} {facts.machine} -> {out}")
    argv = appimages.wheel_command(sys.executable, requirements, partial, host_py,
                                   facts.python, facts.machine)  # fmt: skip
    stream(argv, on_line=lambda line: eprint(f"    {line}"), what=f"pip wheel for {image.name}")
    (partial / ".inputs").write_text(stamp + "\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def _next_build(image: ByoImage, folder: Path, files: dict[str, bytes], work: Path,
                started: float) -> Path:  # fmt: skip
    """`npm ci` and `next build` on the host, in a copy of the app's folder; the copy's
    .next/standalone, .next/static and public/ are what the Dockerfile copies in."""
    src = work / "src"
    shutil.rmtree(src, ignore_errors=True)
    _copy_sources(folder, files, src)
    _say(started, f"{image.name}: npm ci in {src}")
    # --prefix: npm runs in the copy (its package.json, lock, node_modules).
    npm = ["npm", "--prefix", str(src)]
    stream([*npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], env=NODE_ENV,
           on_line=lambda line: eprint(f"    {line}"), what=f"npm ci for {image.name}")
    _say(started, f"{image.name}: next build (npm run build)")
    stream([*npm, "run", "build"], env=NODE_ENV,
           on_line=lambda line: eprint(f"    {line}"), what=f"next build for {image.name}")
    if not (src / ".next" / "standalone" / "server.js").is_file():
        raise OperationFailed(f"{image.name}: next build left no .next/standalone/server.js "
                              "(next.config.mjs must say output: 'standalone')")  # fmt: skip
    (src / "public").mkdir(exist_ok=True)
    return src


def _context(image: ByoImage, folder: Path, files: dict[str, bytes], work: Path, base: str,
             started: float) -> Path:  # fmt: skip
    """The docker build context: the app's folder plus what the host built for it."""
    if image.kind == "python":
        context = work / "context"
        shutil.rmtree(context, ignore_errors=True)
        _copy_sources(folder, files, context)
        shutil.copytree(_wheels(image, folder, work, base, started), context / "wheels",
                        ignore=shutil.ignore_patterns(".inputs"))  # fmt: skip
        return context
    # The Next.js context is the built copy itself; .dockerignore keeps node_modules out.
    return _next_build(image, folder, files, work, started)


def _build_one(image: ByoImage, base: str, files: dict[str, bytes], inputs: str,
               work_root: Path, started: float) -> str:  # fmt: skip
    folder = EXAMPLES / image.source
    work = work_root / image.name
    work.mkdir(parents=True, exist_ok=True)
    context = _context(image, folder, files, work, base, started)
    _say(started, f"{image.name}: docker build -> {image.ref}")
    stream(docker_build_argv(image, context, base, inputs), env={"DOCKER_BUILDKIT": "0"},
           on_line=lambda line: eprint(f"    {line}"), what=f"docker build of {image.ref}")
    info = containers.image_inspect(image.ref)
    if info is None:
        raise OperationFailed(f"docker build left no image {image.ref}")
    return info["Id"]


def _current(wanted: dict[str, str]) -> dict[str, dict]:
    """The tagged images whose inputs label is the wanted one: ref, id, architecture."""
    found = {}
    for image in IMAGES:
        info = containers.image_inspect(image.ref)
        labels = ((info or {}).get("Config") or {}).get("Labels") or {}
        if info is not None and labels.get(INPUTS_LABEL) == wanted[image.name]:
            found[image.name] = {"ref": image.ref, "id": info["Id"],
                                 "architecture": info.get("Architecture"),
                                 "bytes": info["Size"]}  # fmt: skip
    return found


def _write_archive(images: dict[str, dict], out: Path, started: float) -> dict:
    """docker save the images into OUT/byo-app.tar unless its manifest says it holds them
    already; the manifest (appimages.manifest's format) is rewritten when it changed."""
    tar, manifest_path = out / ARCHIVE_NAME, out / MANIFEST_NAME
    try:
        existing = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        existing = None
    if appimages.archive_is_current(existing, images, tar):
        _say(started, f"archive {tar} already holds these images")
        archive = existing["archive"]
    else:
        out.mkdir(parents=True, exist_ok=True)
        partial = tar.with_name(tar.name + ".partial")
        _say(started, f"docker save -> {tar}")
        run(["docker", "save", "-o", str(partial), *(i.ref for i in IMAGES)], what="docker save")
        archive = {"path": ARCHIVE_NAME, "bytes": partial.stat().st_size,
                   "sha256": locks.file_digest(partial).split(":", 1)[1]}  # fmt: skip
        partial.replace(tar)
    doc = appimages.manifest(images, archive)
    if doc != existing:
        manifest_path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return {**archive, "path": str(tar), "manifest": str(manifest_path)}


def build(*, base: str = DEFAULT_BASE, out: str = DEFAULT_OUT, work: str = DEFAULT_WORK,
          force: bool = False, dry_run: bool = False) -> dict:  # fmt: skip
    """Build (or reuse) the FastAPI and Next.js images, then the archive and its manifest.

    Returns {"base", "plan": name -> build|reuse, "inputs", and unless ``dry_run``
    "images": name -> {ref, id, architecture, bytes, action}, "archive"}. Raises
    ConfigError when an app's folder lacks a file its build needs, PreflightError when
    docker, node or the base image is missing, OperationFailed when a step fails."""
    started = time.monotonic()
    which_or_fail("docker", "install Docker and start dockerd")
    base_info = containers.image_inspect(base)
    if base_info is None:
        raise PreflightError(f"base image {base!r} not found: build it first with "
                             "`golden base-image` (make base-image), or pass --base")  # fmt: skip
    files = {}
    for image in IMAGES:
        folder = EXAMPLES / image.source
        files[image.name] = _read(folder)
        missing = missing_inputs(image, list(files[image.name]))
        if missing:
            raise ConfigError(f"{folder}: missing {', '.join(missing)} (needed to build "
                              f"{image.ref})")  # fmt: skip
    tools = _tool_versions({image.kind for image in IMAGES})
    wanted = {i.name: inputs_hash(i, base_info["Id"], files[i.name], tools) for i in IMAGES}
    labels = {i.name: containers.image_label(i.ref, INPUTS_LABEL) for i in IMAGES}
    plan = {i.name: "reuse" if not force and labels[i.name] == wanted[i.name] else "build"
            for i in IMAGES}  # fmt: skip
    _say(started, f"base {base}; " + ", ".join(f"{n}: {what}" for n, what in plan.items()))
    result = {"base": {"ref": base, "id": base_info["Id"]}, "plan": plan, "inputs": wanted}
    if dry_run:
        return {**result, "dry_run": True}
    for image in IMAGES:
        if plan[image.name] == "build":
            _build_one(image, base, files[image.name], wanted[image.name], Path(work), started)
    images = _current(wanted)
    missing = [i.ref for i in IMAGES if i.name not in images]
    if missing:
        raise OperationFailed(f"{', '.join(missing)} missing or stale after the build")
    archive = _write_archive(images, Path(out), started)
    for name, info in images.items():
        info["action"] = "built" if plan[name] == "build" else "reused"
    _say(started, "done")
    return {**result, "images": images, "archive": archive,
            "seconds": round(time.monotonic() - started, 1)}  # fmt: skip



def pillar_tree(dest: Path, declaration: Path = PILLAR_DECLARATION) -> Path:
    """A copy of the repository's pillar/ at ``dest`` with ``declaration`` merged into
    roles/app.sls: the same state tree, the examples' services and archive."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(REPO / "pillar", dest)
    role = dest / "roles" / "app.sls"
    decl = yaml.safe_load(Path(declaration).read_text(encoding="utf-8"))
    role.write_text(merged_role_pillar(role.read_text(encoding="utf-8"), decl), encoding="utf-8")
    return dest


def twin_image(*, base: str = DEFAULT_BASE, out: str = DEFAULT_OUT, work: str = DEFAULT_WORK,
               wheels: str = "build/wheelhouse", ca_bundle: Path | None = None,
               force: bool = False) -> dict:  # fmt: skip
    """A twin image (TWIN_IMAGE) of the app role that runs the examples instead of the
    sample: the images and archive (`build`), the repository's pillar with
    examples/golden-pillar.yaml merged in, staged as a bake stages it (the archive the
    pillar names is uploaded) and provisioned by scripts/provision.sh, the one path every
    image takes. Reused when the staged inputs and the base are unchanged.

    ``ca_bundle``: the database CA the image trusts (default: the local stand-ins' CA
    when it exists, as `golden twin build`). The image suite (tests/image) runs inside
    this build as in every other: the app contract's checks on the declared services
    (their health paths, ports, routes, limits); the sample's own endpoints (tests
    marked sample_app) are deselected for it.
    Returns {"images": build()'s result, "twin": the build record or {image, id,
    built: False}}."""
    started = time.monotonic()
    images = build(base=base, out=out, work=work, force=force)
    wheelhouse.build(wheels)
    # As `golden twin build`: the local stand-ins' CA when they made one (PostgreSQL's TLS).
    local_ca = REPO / ".state" / "local" / "tls" / "ca.pem"
    if ca_bundle is None and local_ca.is_file():
        ca_bundle = local_ca
    pillar = pillar_tree(Path(work) / "pillar")
    entries = staging.plan(staging.Inputs(repo=REPO, role="app", wheelhouse=Path(wheels),
                                          images=Path(out), ca_bundle=ca_bundle,
                                          pillar=pillar))  # fmt: skip
    problems = staging.problems(entries)
    if problems:
        raise OperationFailed("build inputs missing:\n  " + "\n  ".join(problems))
    staged = staging.lay_out(entries, Path(work) / "stage", provenance.collect("app"))
    wanted = twin.inputs_hash(staged, images["base"]["id"])
    if not force and containers.image_label(TWIN_IMAGE, twin.INPUTS_LABEL) == wanted:
        _say(started, f"twin image {TWIN_IMAGE} is up to date ({wanted})")
        found = {"image": TWIN_IMAGE, "id": containers.image_inspect(TWIN_IMAGE)["Id"],
                 "built": False}  # fmt: skip
        return {"images": images, "twin": found}
    labels = {**provenance.collect("app"), "inputs": wanted}
    record = twin.provision_image(staged, role="app", base=base, ref=TWIN_IMAGE, labels=labels,
                                  builder=TWIN_BUILDER,
                                  log=Path(work) / "twin-build.log", started=started)  # fmt: skip
    return {"images": images, "twin": {**record, "built": True}}
