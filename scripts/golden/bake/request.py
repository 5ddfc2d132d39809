"""What a bake was asked for, checked, and what it means: the role and target, the
template variables and var files, the inputs it stages, the application images it pins
and the EC2 endpoint it talks to.

`check_request` turns a `BakeRequest` into a complete one (defaults filled in, paths
resolved) or raises ConfigError naming the option; the rest are pure decisions over it,
apart from `image_refs_for_role`, which reads the pillar and the archive manifests."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from autoscaling.supplychain import DEFAULT_PATH as DEFAULT_SUPPLY_CHAIN
from autoscaling.supplychain import SEVERITIES
from golden.bake import staging
from golden.bake.frombase import BASE_ROLE, FROM_BASE_VARS
from golden.core import tags
from golden.core.awsclient import is_loopback_endpoint  # noqa: F401  (re-exported)
from golden.core.errors import ConfigError, PreflightError

ROLES = tags.AMI_ROLES
TARGETS = {"aws": "amazon-ebs.ubuntu", "local": "docker.twin"}
BUILD_NAME = "golden"
SALT_INSTALL_DEFAULT = {"local": "wheelhouse", "aws": "onedir"}
# Set by the wrapper from the repository and the run; a --var cannot override them.
WRAPPER_VARS = (
    "role",
    "staging_dir",
    "manifest_path",
    "packages_path",
    "sbom_path",
    "git_revision",
    "state_tree_revision",
    "packer_version",
    "salt_install",
    "build_time",
)
TAG_VALUE_MAX = 256
# The twin boots golden/twin-<role>:latest (golden.twin.image_name), so a tested local bake
# lands there too.
LOCAL_REPOSITORY = "golden/twin-{role}"
# The database CA bundle: AWS publishes it; a bake cannot run without it on AWS (the boot
# step connects with sslmode=verify-full against it). The twin uses the local stack's CA.
RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
DEFAULT_AWS_CA_BUNDLE = Path("build") / "certs" / "rds-ca-bundle.pem"
DEFAULT_LOCAL_CA_BUNDLE = Path(".state") / "local" / "tls" / "ca.pem"

_DIGEST_REF = re.compile(r"(?P<repo>[A-Za-z0-9][A-Za-z0-9._/:-]*)@(?P<digest>sha256:[0-9a-f]{64})")


# ---------------------------------------------------------------- the request


@dataclass
class BakeRequest:
    """One `golden bake`, as given on the command line; `check_request` fills in the
    defaults (salt_install, wheelhouse, images, ca_bundle) and resolves the paths."""

    role: str
    target: str
    variables: dict[str, str] = field(default_factory=dict)
    var_files: list[Path] = field(default_factory=list)
    salt_install: str | None = None
    wheelhouse: Path | None = None
    images: Path | None = None
    allow_packer_compat: bool = False
    dry_run: bool = False
    local_repository: str = LOCAL_REPOSITORY
    # The database CA bundle staged as certs/rds-ca-bundle.pem (required on AWS).
    ca_bundle: Path | None = None
    # Start from the newest tested base image instead of the OS image (two-stage bake).
    from_base: bool = False
    # The vulnerability gate (AWS): failing severity (None: the policy's fail_on), no scan
    # at all (said plainly in the record), the reviewed policy file (None: the checkout's
    # security/supply-chain.yaml). The SBOM's bucket (None: not uploaded, no tag).
    fail_on: str | None = None
    skip_scan: bool = False
    supply_chain: Path | None = None
    artifacts_bucket: str | None = None


@dataclass
class Paths:
    """The repository, its Packer template folder and its build/ folder."""

    repo: Path
    template: Path
    build: Path

    @classmethod
    def for_repo(cls, repo: Path) -> Paths:
        return cls(repo=repo, template=repo / "packer", build=repo / "build")


def check_request(request: BakeRequest, paths: Paths) -> BakeRequest:
    """Bad input -> ConfigError naming the field, before anything runs."""
    if request.role not in ROLES:
        raise ConfigError(f"--role {request.role!r}: expected one of {', '.join(ROLES)}")
    if request.target not in TARGETS:
        raise ConfigError(f"--target {request.target!r}: expected one of {', '.join(TARGETS)}")
    salt_install = request.salt_install or SALT_INSTALL_DEFAULT[request.target]
    if salt_install not in ("wheelhouse", "onedir"):
        raise ConfigError(f"--salt-install {salt_install!r}: expected wheelhouse or onedir")
    var_files = []
    for var_file in request.var_files:
        var_file = Path(var_file).resolve()
        if not var_file.is_file():
            raise ConfigError(f"--var-file {var_file}: no such file")
        var_files.append(var_file)
    if not (paths.template / "golden.pkr.hcl").is_file():
        raise ConfigError(f"{paths.template}: the Packer template golden.pkr.hcl is missing")
    if request.from_base:
        if request.role == BASE_ROLE:
            raise ConfigError("--from-base: the base role starts from the OS image; use it for "
                              "app or chroma bakes")  # fmt: skip
        for name in FROM_BASE_VARS[request.target]:
            if name in request.variables:
                raise ConfigError(f"--var {name}: --from-base sets it (the source is the newest "
                                  "tested base image); remove one of the two")  # fmt: skip
    if request.fail_on is not None and request.fail_on not in SEVERITIES:
        raise ConfigError(f"--fail-on {request.fail_on!r}: expected one of "
                          f"{', '.join(SEVERITIES)}")  # fmt: skip
    return BakeRequest(
        fail_on=request.fail_on,
        skip_scan=request.skip_scan or request.target == "local",
        supply_chain=Path(request.supply_chain or paths.repo / DEFAULT_SUPPLY_CHAIN).resolve(),
        artifacts_bucket=request.artifacts_bucket or os.environ.get("GOLDEN_ARTIFACTS_BUCKET"),
        role=request.role,
        target=request.target,
        variables=dict(request.variables),
        var_files=var_files,
        salt_install=salt_install,
        wheelhouse=Path(request.wheelhouse or paths.build / "wheelhouse"),
        images=Path(request.images or paths.build / "images"),
        allow_packer_compat=request.allow_packer_compat,
        dry_run=request.dry_run,
        local_repository=request.local_repository,
        ca_bundle=ca_bundle_for(request, paths),
        from_base=request.from_base,
    )


def ca_bundle_for(request: BakeRequest, paths: Paths) -> Path | None:
    """The CA bundle a bake stages: the one given (which must be PEM certificates), else
    on AWS build/certs/rds-ca-bundle.pem (checked in preflight), else for a local role
    bake the local stack's CA when it exists (as `golden twin build` does)."""
    if request.ca_bundle is not None:
        path = Path(request.ca_bundle).resolve()
        problem = staging.ca_bundle_problem(path) if path.is_file() else f"{path}: no such file"
        if problem:
            raise ConfigError(f"--ca-bundle {problem}")
        return path
    if request.role == BASE_ROLE:
        return None
    if request.target == "aws":
        return paths.repo / DEFAULT_AWS_CA_BUNDLE
    local = paths.repo / DEFAULT_LOCAL_CA_BUNDLE
    return local if local.is_file() else None


def staging_entries(request: BakeRequest, paths: Paths) -> dict[str, Path]:
    """Destination inside the staging folder -> source, for a checked request."""
    return staging.plan(
        staging.Inputs(
            repo=paths.repo,
            role=request.role,
            wheelhouse=request.wheelhouse,
            images=request.images,
            ca_bundle=request.ca_bundle,
        )
    )


# ---------------------------------------------------------------- what it means for Packer


def parse_var_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """--var K=V pairs -> dict; refuses malformed pairs and the variables the wrapper owns."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(f"--var {pair!r}: expected NAME=VALUE with a template variable name")
        if key in WRAPPER_VARS:
            raise ConfigError(
                f"--var {key}: set by golden bake itself (from --role, --salt-install, the "
                f"repository and the run); remove it"
            )
        result[key] = value
    return result


def only_filter(target: str) -> str:
    """The -only value of a target's source, e.g. golden.docker.twin."""
    return f"{BUILD_NAME}.{TARGETS[target]}"


def bake_id(role: str, now: datetime) -> str:
    """<role>-<UTC time to the second>: names the build record and the work folder."""
    return f"{role}-{now.strftime('%Y%m%dT%H%M%SZ')}"


def packer_var_args(var_files: Sequence[Path], variables: dict[str, str]) -> list[str]:
    """Var files first, then -var flags: Packer lets later definitions win, so the values
    the wrapper sets cannot be overridden by a var file."""
    args: list[str] = []
    for var_file in var_files:
        args += ["-var-file", str(var_file)]
    for key in sorted(variables):
        args += ["-var", f"{key}={variables[key]}"]
    return args


def template_default(text: str, name: str) -> str | None:
    """A string variable's default from the template's variables file."""
    block = re.search(r'variable\s+"' + re.escape(name) + r'"\s*\{(.*?)\n\}', text, re.S)
    if not block:
        return None
    default = re.search(r'^\s*default\s*=\s*"([^"]*)"', block.group(1), re.M)
    return default.group(1) if default else None


def ec2_endpoint(variables: dict[str, str]) -> str | None:
    """The EC2 endpoint of the bake: the template's ec2_endpoint variable, else the AWS
    environment (AWS_ENDPOINT_URL_EC2, then AWS_ENDPOINT_URL); None for AWS itself."""
    return (
        variables.get("ec2_endpoint")
        or os.environ.get("AWS_ENDPOINT_URL_EC2")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None
    )


# ---------------------------------------------------------------- the application images it pins


def image_refs_for_role(role: str, entries: dict[str, Path]) -> list[str]:
    """Application images the bake pins: digest references in the pillar the role gets
    (common + roles/<role>), and the images inside uploaded archives (their manifest
    names each image's id, the digest of its config)."""
    refs: list[str] = []
    pillar = entries.get("pillar")
    if pillar is not None:
        for path in (pillar / "common.sls", pillar / "roles" / f"{role}.sls"):
            if path.is_file():
                refs += digest_refs_in([path.read_text(encoding="utf-8", errors="replace")])
    for manifest in staging.archive_manifests(entries):
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except ValueError:
                raise PreflightError(f"{manifest}: not valid JSON") from None
            for name, image in sorted((data.get("images") or {}).items()):
                if isinstance(image, dict) and str(image.get("id", "")).startswith("sha256:"):
                    refs.append(f"{name}@{image['id']}")
    return refs


def digest_refs_in(texts: Sequence[str]) -> list[str]:
    """Every `name@sha256:<64 hex>` reference in ``texts``, in order."""
    refs: list[str] = []
    for text in texts:
        refs += [match.group(0) for match in _DIGEST_REF.finditer(text)]
    return refs


def app_images_value(refs: Sequence[str]) -> str:
    """The golden:app-images tag value: sorted unique `name@sha256:digest` entries, space
    separated. An AWS tag value holds 256 characters; longer lists become the digest of
    the list (the full list stays in the build record)."""
    entries = set()
    for ref in refs:
        match = _DIGEST_REF.search(ref)
        if match:
            name = match.group("repo").rsplit("/", 1)[-1].split(":", 1)[0]
            entries.add(f"{name}@{match.group('digest')}")
    if not entries:
        return "none"
    value = " ".join(sorted(entries))
    if len(value) <= TAG_VALUE_MAX:
        return value
    return "list-sha256:" + hashlib.sha256(value.encode()).hexdigest()
