"""Preflight of `golden bake`: everything checked before anything is written. Packer is
there and recent enough (and may build a real AWS image with the version found), the
inputs to stage exist, with --from-base the newest tested base image is chosen, and a
local bake's base image is in the local Docker (Packer must not pull it).

`run` is the step the bake runs; each check raises PreflightError (exit 3) naming what
to fix. Effects: `packer version`, reading the inputs, docker image queries."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autoscaling import supplychain
from autoscaling.supplychain import SupplyChain
from golden.bake import compat as packer_compat
from golden.bake import packer as packer_cli
from golden.bake import staging
from golden.bake.frombase import choose_base
from golden.bake.request import (
    RDS_CA_BUNDLE_URL,
    BakeRequest,
    Paths,
    ec2_endpoint,
    is_loopback_endpoint,
    staging_entries,
    template_default,
)
from golden.core import locks
from golden.core.errors import PreflightError


@dataclass(frozen=True)
class PackerTool:
    """The Packer a bake runs and how."""

    path: str
    version: str  # e.g. "1.6.6"
    compat: bool  # builds from the compatibility rendering (compat.py): Packer < 1.7
    endpoint: str | None  # EC2 endpoint of the bake; None: AWS itself


@dataclass(frozen=True)
class Preflight:
    """What preflight found: the Packer to run, the staging entries (destination ->
    source), the base record of a --from-base bake (None otherwise) and the text of the
    template's variables file."""

    packer: PackerTool
    entries: dict[str, Path]
    base: dict | None
    variables_text: str
    inputs: dict  # the locks' digests and the wheelhouse's manifest (check_wheelhouse)
    policy: SupplyChain  # security/supply-chain.yaml: the gate and the AMI lifecycle
    region: str  # the AWS bake's build region (aws_region); the local one's default


def run(request: BakeRequest, paths: Paths, say: Callable[[str], None]) -> Preflight:
    """All checks of a checked request, in order; nothing is written. A --from-base bake
    gets its base's template variables added to ``request.variables``."""
    packer = check_packer(request)
    policy = supplychain.load(request.supply_chain)
    entries = check_inputs(request, paths)
    inputs = check_wheelhouse(entries["wheelhouse"], paths.repo)
    base = None
    if request.from_base:
        variables, base = choose_base(request.target, say)
        request.variables.update(variables)
    variables_text = (paths.template / "variables.pkr.hcl").read_text(encoding="utf-8")
    if request.target == "local":
        check_twin_base_image(request, variables_text)
    else:
        check_architecture(request, entries, variables_text)
    region = (
        request.variables.get("aws_region")
        or var_file_value(request.var_files, "aws_region")
        or template_default(variables_text, "aws_region")
        or "us-east-1"
    )
    return Preflight(packer=packer, entries=entries, base=base, variables_text=variables_text,
                     inputs=inputs, policy=policy, region=region)  # fmt: skip


def check_packer(request: BakeRequest) -> PackerTool:
    """Packer on PATH, >= 1.6.6 (packer.version raises otherwise). Packer < 1.7 cannot
    enforce IMDSv2, so it may bake for AWS only against an emulator on loopback or with
    --allow-packer-compat."""
    packer = packer_cli.find_packer()
    version = packer_cli.version(packer)
    version_text = ".".join(map(str, version))
    compat = packer_compat.needs_compat(version)
    endpoint = ec2_endpoint(request.variables)
    if compat and request.target == "aws" and not request.allow_packer_compat:
        if not (endpoint and is_loopback_endpoint(endpoint)):
            raise PreflightError(
                f"packer {version_text} cannot enforce IMDSv2 (metadata_options, imds_support) "
                "on a real AWS bake: install Packer >= 1.9 with `packer init packer/`, or pass "
                "--allow-packer-compat to bake without those settings"
            )
    return PackerTool(path=packer, version=version_text, compat=compat, endpoint=endpoint)


def check_inputs(request: BakeRequest, paths: Paths) -> dict[str, Path]:
    """The staging entries (destination -> source) once every one of them is usable; an
    AWS bake's missing RDS CA bundle gets its own message (where AWS publishes it)."""
    entries = staging_entries(request, paths)
    ca_bundle = entries.get(staging.CA_BUNDLE_DEST)
    if request.target == "aws" and ca_bundle is not None and not ca_bundle.exists():
        raise PreflightError(
            f"{ca_bundle}: the RDS CA bundle is missing. An AWS bake stages it as "
            f"/etc/golden/certs/rds-ca-bundle.pem (the boot step connects with "
            f"sslmode=verify-full against it). AWS publishes it at {RDS_CA_BUNDLE_URL}: "
            f"download it on a machine with internet access and put it at {ca_bundle}, or "
            "pass --ca-bundle PATH"
        )
    problems = staging.problems(entries)
    if problems:
        raise PreflightError("bake inputs missing:\n  " + "\n  ".join(problems))
    return entries


def check_wheelhouse(wheelhouse: Path, repo: Path) -> dict:
    """The wheelhouse was built from this checkout's lock (its manifest records the
    lock's digest) and holds the golden wheel its manifest pins by sha256, and the
    requirement files the image installs with --require-hashes. Returns the build
    record's `inputs`: {"locks": {path: "sha256:..."} of every image lock in the
    checkout, "wheelhouse": the manifest}. PreflightError names what to rebuild."""
    rebuild = "rebuild it with `golden twin build` (make image)"
    lock = repo / locks.IMAGE_LOCKS["wheelhouse"]
    if not lock.is_file():
        raise PreflightError(f"{lock}: the wheelhouse lock is missing; `make lock` writes it")
    manifest_path = wheelhouse / locks.WHEELHOUSE_MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise PreflightError(f"{manifest_path}: missing or not JSON: the wheelhouse was not "
                             f"built from the lock; {rebuild}") from None  # fmt: skip
    digest = locks.file_digest(lock)
    if manifest.get("lock_digest") != digest:
        raise PreflightError(
            f"{wheelhouse}: built from another lock ({manifest.get('lock_digest')}) than "
            f"{lock.relative_to(repo)} ({digest}); {rebuild}"
        )
    golden = manifest.get("golden_wheel") or {}
    wheel = wheelhouse / str(golden.get("file") or "golden-*.whl")
    if not wheel.is_file() or locks.file_digest(wheel) != f"sha256:{golden.get('sha256')}":
        raise PreflightError(f"{wheel}: missing or not the golden wheel the wheelhouse pins "
                             f"(sha256:{golden.get('sha256')}); {rebuild}")  # fmt: skip
    missing = [n for n in locks.WHEELHOUSE_REQUIREMENTS if not (wheelhouse / n).is_file()]
    if missing:
        raise PreflightError(f"{wheelhouse}: {', '.join(missing)} missing; {rebuild}")
    digests = {str(rel): locks.file_digest(repo / rel)
               for rel in locks.IMAGE_LOCKS.values() if (repo / rel).is_file()}  # fmt: skip
    return {"locks": digests, "wheelhouse": manifest}


def check_architecture(request: BakeRequest, entries: dict[str, Path], variables_text: str) -> None:
    """An AWS bake's build instance is ``arch`` (the template's variable: amd64 picks a t3,
    arm64 a t4g): every staged input with machine code (image archives, wheels) must be
    for it, or the highstate fails half-way on the instance. The Salt states choose their
    own packages from the grains."""
    arch = (
        request.variables.get("arch")
        or var_file_value(request.var_files, "arch")
        or template_default(variables_text, "arch")
        or "amd64"
    )
    problems = staging.architecture_problems(entries, arch)
    if problems:
        raise PreflightError(
            f"arch={arch}: the bake's inputs are not built for {arch}:\n  "
            + "\n  ".join(problems)
        )


def var_file_value(var_files: list[Path], name: str) -> str | None:
    """A string variable set in the --var-file files (``name = "value"``), the last file
    that sets it winning, as in Packer; None when none does or a file cannot be read."""
    pattern = re.compile(r'^\s*' + re.escape(name) + r'\s*=\s*"([^"]*)"', re.M)
    value = None
    for path in var_files:
        try:
            found = pattern.findall(Path(path).read_text(encoding="utf-8"))
        except OSError:
            continue  # packer validate names an unreadable file
        value = found[-1] if found else value
    return value


def check_twin_base_image(request: BakeRequest, variables_text: str) -> None:
    """The image a local bake starts from (twin_base_image, else the template's default
    from ``variables_text``) is in the local Docker."""
    base = request.variables.get("twin_base_image") or template_default(
        variables_text, "twin_base_image"
    )
    if not base or not docker_image_exists(base):
        raise PreflightError(
            f"twin base image {base!r} not found in the local Docker (Packer must not pull "
            "it): build it with `golden base-image`"
        )


def docker_image_exists(ref: str) -> bool:
    """``ref`` (name:tag or image id) is in the local Docker; PreflightError without docker."""
    try:
        proc = subprocess.run(
            ["docker", "image", "inspect", ref], capture_output=True, text=True, timeout=60
        )
    except OSError:
        raise PreflightError("docker not found on PATH: install Docker and start dockerd") from None
    return proc.returncode == 0
