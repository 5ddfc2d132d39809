"""The staging folder: what a build uploads to /var/tmp/golden, for `golden bake` (both
Packer sources) and `golden twin build` alike.

`plan` decides what goes where for a role (pure); `problems` and `ca_bundle_problem` say
what is wrong with the inputs before anything is written; `lay_out` is the one effect."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from golden.core.errors import ConfigError

# Each role uploads its own image archive and nothing else: app images have no business
# on the Chroma host, and the base image carries no application at all. These are the
# defaults; the role's pillar names the archive it loads (`archive_name`).
ROLE_ARCHIVES: dict[str, str | None] = {"app": "sample-app", "chroma": "chroma", "base": None}
ARCHIVE_BUILDERS = {"sample-app": "golden app-images build", "chroma": "golden chroma-image build",
                    "byo-app": "golden byo-images build"}  # fmt: skip
# Where a build uploads the staging folder's images/ (scripts/provision.sh --src).
REMOTE_IMAGES = "/var/tmp/golden/images"
# Where the golden formula finds the database CA bundle (salt/golden/defaults.yaml).
CA_BUNDLE_DEST = "certs/rds-ca-bundle.pem"
# Files at least this big are hard linked, not copied: image archives are hundreds of MB.
LINK_MIN_BYTES = 1 << 20

_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]+)-----(?P<body>.*?)-----END (?P=kind)-----", re.S
)


@dataclass(frozen=True)
class Inputs:
    """Where a build's inputs are. ``wheelhouse`` and ``images`` default to the folders
    under build/ of the repository, ``pillar`` to its pillar/ (another folder: the same
    state tree with another pillar, e.g. an app's own services)."""

    repo: Path
    role: str
    wheelhouse: Path | None = None
    images: Path | None = None
    ca_bundle: Path | None = None
    pillar: Path | None = None


def plan(inputs: Inputs) -> dict[str, Path]:
    """Destination inside the staging folder -> source, for one role."""
    if inputs.role not in ROLE_ARCHIVES:
        raise ConfigError(f"role {inputs.role!r}: expected one of {', '.join(ROLE_ARCHIVES)}")
    repo = Path(inputs.repo)
    pillar = Path(inputs.pillar or repo / "pillar")
    entries = {
        "provision.sh": repo / "scripts" / "provision.sh",
        # The state tree: the pillar guard in salt/ checks pillar/ against schemas/.
        "salt": repo / "salt",
        "pillar": pillar,
        "schemas": repo / "schemas",
        "tests/image": repo / "tests" / "image",
    }
    # Every install method needs it: onedir brings Salt and its Python, but the golden
    # package and the image tests' tools still come from these wheels.
    entries["wheelhouse"] = Path(inputs.wheelhouse or repo / "build" / "wheelhouse")
    archive = archive_name(pillar, inputs.role)
    if archive:
        images = Path(inputs.images or repo / "build" / "images")
        for suffix in (".tar", ".json"):
            entries[f"images/{archive}{suffix}"] = images / f"{archive}{suffix}"
    if inputs.ca_bundle is not None:
        entries[CA_BUNDLE_DEST] = Path(inputs.ca_bundle)
    return entries


def archive_name(pillar: Path, role: str) -> str | None:
    """The image archive a role's build uploads: the one its pillar loads (the pillar
    folder's roles/ROLE.sls, ``ROLE:image_archive`` and ``ROLE:image_manifest``, both in
    REMOTE_IMAGES and of one name: NAME.tar and NAME.json), else ROLE_ARCHIVES' default.
    So the archive uploaded and the archive the state tree loads cannot disagree.
    Raises ConfigError naming the file and key when the pillar names another place."""
    default = ROLE_ARCHIVES[role]
    pillar = Path(pillar) / "roles" / f"{role}.sls"
    if default is None or not pillar.is_file():
        return default
    try:
        data = yaml.safe_load(pillar.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return default  # a templated pillar: the state tree's own check reports it
    section = data.get(role) if isinstance(data, dict) else None
    if not isinstance(section, dict) or "image_archive" not in section:
        return default
    names = {}
    for key, suffix in (("image_archive", ".tar"), ("image_manifest", ".json")):
        value = str(section.get(key) or "")
        path = PurePosixPath(value)
        if str(path.parent) != REMOTE_IMAGES or path.suffix != suffix:
            raise ConfigError(f"{pillar}: {role}:{key} {value!r}: expected "
                              f"{REMOTE_IMAGES}/NAME{suffix} (where the build uploads the "
                              "role's image archive)")  # fmt: skip
        names[key] = path.stem
    if names["image_archive"] != names["image_manifest"]:
        raise ConfigError(f"{pillar}: {role}:image_archive and {role}:image_manifest name "
                          f"different archives ({names['image_archive']}.tar, "
                          f"{names['image_manifest']}.json): expected NAME.tar and NAME.json")
    return names["image_archive"]


def archive_manifests(entries: dict[str, Path]) -> list[Path]:
    """The staged archives' manifests (each names its images' ids)."""
    return [src for dest, src in sorted(entries.items())
            if dest.startswith("images/") and dest.endswith(".json")]  # fmt: skip


def problems(entries: dict[str, Path]) -> list[str]:
    """Every missing or unusable input, each naming the file and what to do about it."""
    found = []
    for dest, src in entries.items():
        if not src.exists():
            found.append(f"{src}: missing ({_hint(dest)})")
        elif dest == "wheelhouse" and not any(src.glob("*.whl")):
            found.append(f"{src}: holds no *.whl files ({_hint(dest)})")
        elif dest == CA_BUNDLE_DEST:
            problem = ca_bundle_problem(src)
            if problem:
                found.append(problem)
    return found


# Packer's `arch` variable (Debian's and Docker's names) -> the machine name in wheel tags.
WHEEL_MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
KNOWN_MACHINES = ("x86_64", "aarch64", "i686", "armv7l", "ppc64le", "s390x")


def wheel_machine(filename: str) -> str | None:
    """The CPU a wheel is built for, from its platform tag (``..._x86_64.whl``); None for
    a pure-Python wheel (``any``) or a platform not named after a CPU."""
    platforms = filename.removesuffix(".whl").rsplit("-", 1)[-1].split(".")
    for platform in platforms:
        for machine in KNOWN_MACHINES:
            if platform.endswith("_" + machine):
                return machine
    return None


def architecture_problems(entries: dict[str, Path], arch: str) -> list[str]:
    """Why the staged inputs cannot run on an ``arch`` machine (amd64 | arm64): an image
    archive whose manifest records images for another architecture (or records none),
    wheels built for another CPU. Each names the file and how to get the right one."""
    machine = WHEEL_MACHINES.get(arch)
    if machine is None:
        return [f"arch {arch!r}: expected one of {', '.join(WHEEL_MACHINES)}"]
    found = []
    for manifest in archive_manifests(entries):
        try:
            recorded = json.loads(manifest.read_text()).get("architecture")
        except (OSError, ValueError):
            continue  # a missing or broken manifest is reported by problems()
        builder = ARCHIVE_BUILDERS.get(manifest.stem, "its builder")
        if not recorded:
            found.append(f"{manifest}: does not record its images' architecture (made by an "
                         f"older golden): run `{builder}` again")  # fmt: skip
        elif recorded != arch:
            found.append(f"{manifest}: holds {recorded} images, the bake is for {arch}: build "
                         f"the archive on an {arch} machine (`{builder}` there)")  # fmt: skip
    wheelhouse = entries.get("wheelhouse")
    if wheelhouse is not None and wheelhouse.is_dir():
        other = sorted(w.name for w in wheelhouse.glob("*.whl")
                       if wheel_machine(w.name) not in (None, machine))  # fmt: skip
        if other:
            shown = ", ".join(other[:3]) + (f" and {len(other) - 3} more" if len(other) > 3 else "")
            found.append(f"{wheelhouse}: wheels for another CPU than {arch} ({machine}): "
                         f"{shown}; build the wheelhouse on an {arch} machine")  # fmt: skip
    return found


def _hint(dest: str) -> str:
    if dest == "provision.sh":
        return "the provisioning script scripts/provision.sh"
    if dest == "wheelhouse":
        return "the wheelhouse (Salt, golden, the image tests' tools): `make image` builds " \
               "build/wheelhouse"  # fmt: skip
    if dest.startswith("images/"):
        name = Path(dest).stem
        builder = ARCHIVE_BUILDERS.get(name, "the builder of the archive the pillar names")
        return f"the {name} image archive: run `{builder}`"
    if dest == CA_BUNDLE_DEST:
        return "the database CA bundle given with --ca-bundle"
    return f"part of the repository ({dest})"


def pem_problem(text: str) -> str | None:
    """Why ``text`` is not a bundle of PEM certificates (None when it is one)."""
    blocks = list(_PEM_BLOCK.finditer(text))
    if not blocks:
        return "holds no PEM certificate (-----BEGIN CERTIFICATE----- block)"
    for number, block in enumerate(blocks, 1):
        if block.group("kind") != "CERTIFICATE":
            # A private key in an image would be readable by everyone who can launch it.
            return f"block {number} is a {block.group('kind')}, expected only CERTIFICATE blocks"
        body = "".join(block.group("body").split())
        try:
            der = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return f"certificate {number} is not valid base64"
        if not der.startswith(b"\x30"):
            return f"certificate {number} is not DER data (expected an X.509 SEQUENCE)"
    leftover = _PEM_BLOCK.sub("", text)
    if "-----BEGIN" in leftover or "-----END" in leftover:
        return "holds an unterminated PEM block"
    return None


def ca_bundle_problem(path: Path) -> str | None:
    try:
        text = Path(path).read_text(encoding="ascii")
    except UnicodeDecodeError:
        return f"{path}: not a PEM file (binary content); expected PEM certificates"
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})"
    problem = pem_problem(text)
    return f"{path}: {problem}; expected PEM certificates" if problem else None


def lay_out(entries: dict[str, Path], dest: Path, provenance: dict | None = None) -> Path:
    """A fresh staging folder at ``dest`` holding ``entries`` (and provenance.json)."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name, src in entries.items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, copy_function=_link_or_copy,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
        else:
            _link_or_copy(src, target)
    if provenance is not None:
        (dest / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return dest


def _link_or_copy(src, dst) -> None:
    if os.path.getsize(src) >= LINK_MIN_BYTES:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass  # another filesystem: copy instead
    shutil.copy2(src, dst)
