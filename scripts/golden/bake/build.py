"""`golden bake`: bake a role's image with Packer, the same way for AWS and the local twin.

Flow: preflight (Packer present and recent, inputs exist, with --from-base the newest
tested base image) -> lay out the staging folder (golden.staging, shared with the twin
build) -> `packer validate` -> `packer build -machine-readable -only=SOURCE` with readable progress
-> collect artifacts (stream + manifest) and the in-bake test summary -> only when the tests
passed, mark the image tested (AMI tag golden:tested=true, or a docker label and tag) ->
write the build record under build/bakes/. Decisions are pure functions at the top; effects
(subprocess, filesystem, boto3, docker) sit below them."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from golden.bake import compat as packer_compat
from golden.bake import packer as packer_cli
from golden.bake import staging
from golden.bake import stream as packer_stream
from golden.core import provenance, tags
from golden.core.errors import ConfigError, OperationFailed, PreflightError

# Tag keys are shared with the release engine (one spelling for both sides).
# golden:tested is only ever set here, after the in-bake tests passed; the template sets
# the provenance tags.
TAG_ROLE = tags.ROLE
TAG_TESTED = tags.TESTED
TAG_VERSION = tags.VERSION
TAG_GIT_REVISION = tags.GIT_REVISION
TAG_STATE_TREE_REVISION = tags.STATE_TREE_REVISION
TAG_BUILD_TIME = tags.BUILD_TIME
TAG_PACKER_VERSION = tags.PACKER_VERSION
TAG_APP_IMAGES = tags.APP_IMAGES
PROVENANCE_TAG_KEYS = tuple(key for key in tags.PROVENANCE if key != tags.TESTED)

ROLES = tags.AMI_ROLES
TARGETS = {"aws": "amazon-ebs.ubuntu", "local": "docker.twin"}
BUILD_NAME = "golden"
SALT_INSTALL_DEFAULT = {"local": "wheelhouse", "aws": "onedir"}
# Set by the wrapper from the repository and the run; a --var cannot override them.
WRAPPER_VARS = (
    "role",
    "staging_dir",
    "manifest_path",
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
# What a two-stage bake starts from: the newest base image of this project's own that
# passed its tests (docker labels locally, AMI tags in the project's own account).
BASE_ROLE = "base"
BASE_SELECTOR = {TAG_ROLE: BASE_ROLE, TAG_TESTED: tags.TESTED_VALUE}
BASE_AMI_NAME_PATTERN = "golden-base-*"
# The template variables a --from-base bake sets itself, per target.
FROM_BASE_VARS = {
    "local": ("twin_base_image",),
    "aws": ("source_ami_owners", "source_ami_name_pattern", "source_ami_filters"),
}
# The database CA bundle: AWS publishes it; a bake cannot run without it on AWS (the boot
# step connects with sslmode=verify-full against it). The twin uses the local stack's CA.
RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
DEFAULT_AWS_CA_BUNDLE = Path("build") / "certs" / "rds-ca-bundle.pem"
DEFAULT_LOCAL_CA_BUNDLE = Path(".state") / "local" / "tls" / "ca.pem"

_DIGEST_REF = re.compile(r"(?P<repo>[A-Za-z0-9][A-Za-z0-9._/:-]*)@(?P<digest>sha256:[0-9a-f]{64})")


# ---------------------------------------------------------------- pure decisions


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
    return f"{BUILD_NAME}.{TARGETS[target]}"


def bake_id(role: str, now: datetime) -> str:
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


def digest_refs_in(texts: Sequence[str]) -> list[str]:
    refs: list[str] = []
    for text in texts:
        refs += [match.group(0) for match in _DIGEST_REF.finditer(text)]
    return refs


def tests_passed(tests: dict[str, int] | None) -> bool:
    return bool(tests) and tests["failed"] == 0 and tests["passed"] > 0


def is_loopback_endpoint(url: str) -> bool:
    """Loopback by address, or the name localhost. A name that merely starts with 127.
    (127.0.0.1.example.com) resolves wherever its owner wants, so it does not count."""
    try:
        host = urlsplit(url or "").hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def template_default(text: str, name: str) -> str | None:
    """A string variable's default from the template's variables file."""
    block = re.search(r'variable\s+"' + re.escape(name) + r'"\s*\{(.*?)\n\}', text, re.S)
    if not block:
        return None
    default = re.search(r'^\s*default\s*=\s*"([^"]*)"', block.group(1), re.M)
    return default.group(1) if default else None


def artifacts_from(
    target: str, stream_ids: Sequence[str], manifest: dict | None, run_uuid: str | None = None
) -> dict:
    """Where the image ended up, from the stream's artifact ids and (when present) the
    manifest's entry of this run. The two must agree when both are there."""
    ids = list(stream_ids)
    builds = (manifest or {}).get("builds", [])
    run = run_uuid or (manifest or {}).get("last_run_uuid")
    from_manifest = [b for b in builds if not run or b.get("packer_run_uuid") == run]
    manifest_ids = [b["artifact_id"] for b in from_manifest if b.get("artifact_id")]
    if not ids:
        ids = manifest_ids
    elif manifest_ids and sorted(set(ids)) != sorted(set(manifest_ids)):
        raise OperationFailed(
            f"artifact ids disagree: stream says {ids}, manifest says {manifest_ids}"
        )
    custom = from_manifest[-1].get("custom_data", {}) if from_manifest else {}
    if target == "aws":
        amis: dict[str, str] = {}
        for value in ids:
            amis.update(packer_stream.parse_amazon_artifact_id(value))
        return {"amis": amis, "custom_data": custom}
    return {"image_id": ids[-1] if ids else None, "custom_data": custom}


def failure_summary(summary: packer_stream.StreamSummary, *, lines: int = 20) -> str:
    step = summary.failing_step or summary.last_step() or "(before the first step)"
    reason = next(iter(summary.build_errors.values()), None) or (
        summary.errors[-1] if summary.errors else "see the log"
    )
    tail = "\n".join(f"    {line}" for line in summary.output_tail[-lines:])
    return f"failing step: {step}\nreason: {reason.strip()}\nlast lines of output:\n{tail}"


def base_filter_text(target: str) -> str:
    """How --from-base finds its base, in words for progress and errors."""
    labels = " and ".join(f"{key}={value}" for key, value in BASE_SELECTOR.items())
    if target == "local":
        return f"local docker images labelled {labels}, newest {TAG_BUILD_TIME}"
    return (f"AMIs of this account (owner self) named {BASE_AMI_NAME_PATTERN} tagged {labels}, "
            "newest creation date")  # fmt: skip


def newest_tested_base(images: Sequence[dict]) -> dict | None:
    """The newest base image that passed its tests, from `docker image inspect` records:
    both selector labels must be there; newest golden:build-time wins, then creation."""

    def labels(image: dict) -> dict:
        return (image.get("Config") or {}).get("Labels") or {}

    candidates = [i for i in images if all(labels(i).get(k) == v for k, v in BASE_SELECTOR.items())]
    if not candidates:
        return None
    return max(candidates, key=lambda i: (labels(i).get(TAG_BUILD_TIME, ""), i.get("Created", "")))


def local_base_provenance(image: dict) -> dict:
    """What a role image records about the base image it was baked from."""
    labels = (image.get("Config") or {}).get("Labels") or {}
    return {
        "role": BASE_ROLE,
        "image": image["Id"],
        "tags": sorted(image.get("RepoTags") or []),
        "version": labels.get(TAG_VERSION),
        "build_time": labels.get(TAG_BUILD_TIME),
        "git_revision": labels.get(TAG_GIT_REVISION),
        "state_tree_revision": labels.get(TAG_STATE_TREE_REVISION),
    }


def aws_base_variables() -> dict[str, str]:
    """Template variables that make the source AMI the newest tested base AMI of this
    account (HCL values, as -var takes them)."""
    filters = {f"tag:{key}": value for key, value in BASE_SELECTOR.items()}
    return {
        "source_ami_owners": '["self"]',
        "source_ami_name_pattern": BASE_AMI_NAME_PATTERN,
        "source_ami_filters": "{"
        + ", ".join(f'"{key}" = "{value}"' for key, value in sorted(filters.items()))
        + "}",
    }


# ---------------------------------------------------------------- plan


@dataclass
class BakeRequest:
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


@dataclass
class Paths:
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
    return BakeRequest(
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
    return staging.plan(
        staging.Inputs(
            repo=paths.repo,
            role=request.role,
            wheelhouse=request.wheelhouse,
            images=request.images,
            ca_bundle=request.ca_bundle,
        )
    )


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


# ---------------------------------------------------------------- effects: marking tested


def _ec2_endpoint(variables: dict[str, str]) -> str | None:
    import os

    return (
        variables.get("ec2_endpoint")
        or os.environ.get("AWS_ENDPOINT_URL_EC2")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None
    )


def mark_ami_tested(amis: dict[str, str], endpoint: str | None) -> list[str]:
    import boto3

    marked = []
    for region, ami in sorted(amis.items()):
        client = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
        client.create_tags(Resources=[ami], Tags=[{"Key": TAG_TESTED, "Value": tags.TESTED_VALUE}])
        marked.append(f"{region}:{ami}")
    return marked


def mark_image_tested(image_id: str, repository: str, version: str) -> list[str]:
    """Docker labels are fixed at commit time, so the tested image is a commit of the
    baked one that only adds the label; it gets the role's repository tags."""
    refs = [f"{repository}:{version}", f"{repository}:latest"]
    created = subprocess.run(
        ["docker", "create", image_id], capture_output=True, text=True, timeout=120
    )
    if created.returncode != 0:
        raise OperationFailed(f"docker create {image_id}: {created.stderr.strip()}")
    container = created.stdout.strip()
    try:
        label = f'LABEL "{TAG_TESTED}"="{tags.TESTED_VALUE}"'
        committed = subprocess.run(
            ["docker", "commit", "--change", label, container, refs[0]],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if committed.returncode != 0:
            raise OperationFailed(f"docker commit (tested label): {committed.stderr.strip()}")
        subprocess.run(["docker", "tag", refs[0], refs[1]], check=True, timeout=60)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=120)
    return refs


def local_base_images() -> list[dict]:
    """`docker image inspect` records of every local image carrying the base selector
    labels (tagged or not)."""
    argv = ["docker", "image", "ls", "--no-trunc", "--format", "{{.ID}}"]
    for key, value in BASE_SELECTOR.items():
        argv += ["--filter", f"label={key}={value}"]
    try:
        listed = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except OSError:
        raise PreflightError("docker not found on PATH: install Docker and start dockerd") from None
    if listed.returncode != 0:
        raise PreflightError(f"docker image ls: {listed.stderr.strip()}")
    ids = sorted(set(listed.stdout.split()))
    if not ids:
        return []
    inspected = subprocess.run(
        ["docker", "image", "inspect", *ids], capture_output=True, text=True, timeout=60
    )
    if inspected.returncode != 0:
        raise PreflightError(f"docker image inspect: {inspected.stderr.strip()}")
    return json.loads(inspected.stdout)


def docker_image_exists(ref: str) -> bool:
    try:
        proc = subprocess.run(
            ["docker", "image", "inspect", ref], capture_output=True, text=True, timeout=60
        )
    except OSError:
        raise PreflightError("docker not found on PATH: install Docker and start dockerd") from None
    return proc.returncode == 0


# ---------------------------------------------------------------- orchestration


class Progress:
    """Readable progress on stderr: steps, provisioner output, elapsed time."""

    def __init__(self, started: float, out=None):
        self.started = started
        self.out = out or sys.stderr

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.0f}s] {text}", file=self.out, flush=True)

    def event(self, event: packer_stream.Event) -> None:
        if isinstance(event, packer_stream.Ui):
            _source, _text, is_step = packer_stream.split_ui(event.text)
            for index, line in enumerate(packer_stream.plain_lines(event.text)):
                if event.kind == "error":
                    self.say(f"ERROR {line}")
                elif is_step and index == 0:
                    self.say(f"==> {line}")
                else:
                    self.say(f"    | {line}")
        elif isinstance(event, packer_stream.Unparsed) and event.text.strip():
            self.say(f"    | {event.text}")


def bake(
    request: BakeRequest,
    *,
    repo: Path,
    progress_out=None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> dict:
    """Run one bake; returns the build record (also written to build/bakes/<id>.json).
    Raises OperationFailed (record written, log kept) when the bake or its tests fail."""
    started_at = now()
    started = time.monotonic()
    progress = Progress(started, progress_out)
    paths = Paths.for_repo(Path(repo).resolve())
    request = check_request(request, paths)

    # -- preflight: nothing is written before all of it passes
    packer = packer_cli.find_packer()
    version = packer_cli.version(packer)
    version_text = ".".join(map(str, version))
    compat = packer_compat.needs_compat(version)
    endpoint = _ec2_endpoint(request.variables)
    if compat and request.target == "aws" and not request.allow_packer_compat:
        if not (endpoint and is_loopback_endpoint(endpoint)):
            raise PreflightError(
                f"packer {version_text} cannot enforce IMDSv2 (metadata_options, imds_support) "
                "on a real AWS bake: install Packer >= 1.9 with `packer init packer/`, or pass "
                "--allow-packer-compat to bake without those settings"
            )
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
    base_record = None
    if request.from_base and request.target == "local":
        chosen = newest_tested_base(local_base_images())
        if chosen is None:
            raise PreflightError(
                f"--from-base: no tested base image: none of the {base_filter_text('local')} "
                "exists; bake one with `golden bake --role base --target local`"
            )
        request.variables["twin_base_image"] = chosen["Id"]
        base_record = local_base_provenance(chosen)
        named = ", ".join(base_record["tags"]) or "untagged"
        progress.say(f"from base {chosen['Id'][7:19]} ({named}, built {base_record['build_time']})")
    elif request.from_base:
        request.variables.update(aws_base_variables())
        base_record = {"role": BASE_ROLE, "source_ami_filter": base_filter_text("aws")}
        progress.say(f"from base: the newest of the {base_filter_text('aws')}")
    variables_text = (paths.template / "variables.pkr.hcl").read_text(encoding="utf-8")
    if request.target == "local":
        base = request.variables.get("twin_base_image") or template_default(
            variables_text, "twin_base_image"
        )
        if not base or not docker_image_exists(base):
            raise PreflightError(
                f"twin base image {base!r} not found in the local Docker (Packer must not pull "
                "it): build it with `golden base-image`"
            )

    ident = bake_id(request.role, started_at)
    bakes = paths.build / "bakes"
    workdir = bakes / ident
    record_path = bakes / f"{ident}.json"
    log_path = workdir / "packer.log"
    manifest_path = workdir / "manifest.json"
    repo_rev, state_rev = provenance.revisions(paths.repo)
    refs = image_refs_for_role(request.role, entries)
    app_images = request.variables.pop("app_images", None) or app_images_value(refs)
    build_time = started_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    version_value = request.variables.get("version") or template_default(variables_text, "version")
    stage_provenance = {
        "role": request.role,
        "version": version_value,
        "git_revision": repo_rev,
        "state_tree_revision": state_rev,
        "build_time": build_time,
        "app_images": app_images,
        "packer_version": version_text,
    }
    if base_record:
        stage_provenance["base"] = base_record
    variables = {
        **request.variables,
        "build_time": build_time,
        "role": request.role,
        "salt_install": request.salt_install,
        "git_revision": repo_rev,
        "state_tree_revision": state_rev,
        "packer_version": version_text,
        "app_images": app_images,
        "manifest_path": str(manifest_path),
    }
    only = only_filter(request.target)

    if request.dry_run:
        with tempfile.TemporaryDirectory(prefix="golden-bake-dry-") as tmp:
            template_dir = _template_dir(paths, Path(tmp) / "template", compat)
            dry_stage = Path(tmp) / "stage"
            dry_stage.mkdir()
            variables["staging_dir"] = str(dry_stage)
            args = [f"-only={only}", *packer_var_args(request.var_files, variables)]
            result = packer_cli.validate(packer, template_dir, args, cwd=paths.template)
        if result.returncode != 0:
            raise OperationFailed("packer validate failed:\n" + _validate_text(result.output))
        variables["staging_dir"] = str(workdir / "stage")
        return {
            "id": ident,
            "status": "dry-run",
            "role": request.role,
            "target": request.target,
            "source": TARGETS[request.target],
            "packer": {"path": packer, "version": version_text, "compat_rendering": compat},
            "variables": variables,
            "var_files": [str(f) for f in request.var_files],
            "staging": {k: str(v) for k, v in entries.items()},
            "base": base_record,
            "would_run": [
                f"packer validate -only={only} ...",
                f"packer build -machine-readable -only={only} ...",
            ],
            "record": str(record_path),
        }

    workdir.mkdir(parents=True, exist_ok=True)
    record: dict = {
        "id": ident,
        "role": request.role,
        "target": request.target,
        "source": TARGETS[request.target],
        "status": "running",
        "started_at": started_at.isoformat(),
        "packer": {"path": packer, "version": version_text, "compat_rendering": compat},
        "provenance": {
            TAG_ROLE: request.role,
            TAG_GIT_REVISION: repo_rev,
            TAG_STATE_TREE_REVISION: state_rev,
            TAG_APP_IMAGES: app_images,
            TAG_PACKER_VERSION: version_text,
            "app_image_refs": sorted(set(refs)),
            "base": base_record,
        },
        "log": str(log_path),
        "manifest": str(manifest_path),
        "record_path": str(record_path),
        "tests": None,
        "tested": False,
    }
    stage_dir = workdir / "stage"
    try:
        progress.say(f"bake {ident}: {TARGETS[request.target]} with packer {version_text}")
        template_dir = _template_dir(paths, workdir / "template", compat)
        if compat:
            record["packer"]["dropped"] = sorted(
                packer_compat.DROPPED_BLOCKS + packer_compat.DROPPED_ATTRIBUTES
            )
            progress.say(
                f"packer {version_text}: building from the compatibility rendering (without "
                "required_plugins, metadata_options, imds_support)"
            )
        progress.say(f"staging inputs in {stage_dir}")
        staging.lay_out(entries, stage_dir, stage_provenance)
        variables["staging_dir"] = str(stage_dir)
        args = [f"-only={only}", *packer_var_args(request.var_files, variables)]
        record["packer"]["args"] = args

        progress.say("packer validate")
        checked = packer_cli.validate(packer, template_dir, args, cwd=paths.template)
        if checked.returncode != 0:
            text = _validate_text(checked.output)
            log_path.write_text("\n".join(checked.output) + "\n", encoding="utf-8")
            record.update(status="invalid", error=text)
            raise OperationFailed(f"packer validate failed:\n{text}")

        progress.say(f"packer build -only={only} (log: {log_path})")
        summary = packer_stream.StreamSummary()

        def on_line(line: str) -> None:
            event = packer_stream.parse_line(line)
            summary.feed(event)
            progress.event(event)

        def on_interrupt(_signum: int) -> None:
            progress.say("interrupt: asking Packer to stop and clean up (waiting for it)")

        result = packer_cli.build(
            packer,
            template_dir,
            args,
            on_line=on_line,
            log_path=log_path,
            cwd=paths.template,
            on_interrupt=on_interrupt,
        )
        record["tests"] = summary.tests
        record["elapsed_seconds"] = round(time.monotonic() - started, 1)
        if result.interrupted:
            record.update(
                status="interrupted", failing_step=summary.failing_step or summary.last_step()
            )
            raise OperationFailed(
                f"bake interrupted; Packer cleaned up and exited {result.returncode}\n"
                + failure_summary(summary),
                exit_code=130,
            )
        target_name = f"{BUILD_NAME}.{TARGETS[request.target]}"
        stream_ids = summary.artifact_ids(target_name) or summary.artifact_ids(
            TARGETS[request.target]
        )
        if result.returncode != 0 or not stream_ids:
            why = "" if result.returncode else " (exit 0 but no artifact: nothing was built)"
            record.update(
                status="failed",
                failing_step=summary.failing_step or summary.last_step(),
                error=next(iter(summary.build_errors.values()), None),
            )
            raise OperationFailed(f"packer build failed{why}\n" + failure_summary(summary))
        manifest = _read_json(manifest_path)
        found = artifacts_from(request.target, stream_ids, manifest)
        custom = found.pop("custom_data")
        record["artifacts"] = found
        record["provenance"].update(
            {
                TAG_VERSION: custom.get("version"),
                TAG_BUILD_TIME: custom.get("build_time"),
                "ami_name": custom.get("ami_name"),
            }
        )
        if not tests_passed(summary.tests):
            record.update(status="untested")
            raise OperationFailed(
                "image built but the in-bake tests did not pass "
                f"(summary: {summary.tests or 'no golden-provision test summary line'}); "
                "it is NOT marked tested"
            )
        if request.target == "aws":
            record["tested_marks"] = mark_ami_tested(found["amis"], endpoint)
        else:
            record["tested_marks"] = mark_image_tested(
                found["image_id"],
                request.local_repository.format(role=request.role),
                custom.get("version") or "unknown",
            )
        record["tested"] = True
        record["status"] = "succeeded"
        progress.say(
            f"tests passed={summary.tests['passed']} failed=0 "
            f"skipped={summary.tests['skipped']}; marked tested: "
            + ", ".join(record["tested_marks"])
        )
        return record
    except KeyboardInterrupt:
        record.update(status="interrupted")
        raise
    except OperationFailed as exc:
        record.setdefault("error", str(exc))
        raise OperationFailed(
            f"{exc}\nfull log: {log_path}\nbuild record: {record_path}",
            exit_code=exc.exit_code,
        ) from None
    finally:
        record["finished_at"] = now().isoformat()
        record["elapsed_seconds"] = round(time.monotonic() - started, 1)
        if record["status"] == "running":
            record["status"] = "failed"
        shutil.rmtree(stage_dir, ignore_errors=True)
        record_path.parent.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def _template_dir(paths: Paths, dest: Path, compat: bool) -> Path:
    if not compat:
        return paths.template
    packer_compat.render_dir(paths.template, dest)
    return dest


def _validate_text(output: Sequence[str]) -> str:
    texts = []
    for line in output:
        event = packer_stream.parse_line(line)
        text = event.text if isinstance(event, (packer_stream.Ui, packer_stream.Unparsed)) else ""
        if text.strip():
            texts.append(text.strip())
    return "\n".join(texts) or "(no output)"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- command line


def human_result(record: dict) -> str:
    if record.get("status") == "dry-run":
        lines = [f"dry run {record['id']}: packer validate passed; would run:"]
        lines += [f"  {cmd}" for cmd in record["would_run"]]
        lines += [f"  {k} = {v}" for k, v in sorted(record["variables"].items())]
        return "\n".join(lines)
    found = record.get("artifacts", {})
    where = (
        ", ".join(f"{r}: {a}" for r, a in sorted(found.get("amis", {}).items()))
        if "amis" in found
        else f"{found.get('image_id')} ({', '.join(record.get('tested_marks', []))})"
    )
    tests = record.get("tests") or {}
    base = (record.get("provenance") or {}).get("base")
    if base:
        where += f"\nfrom base: {base.get('image') or base.get('source_ami_filter')}"
    return (
        f"baked {record['role']} for {record['target']}: {where}\n"
        f"tests: passed={tests.get('passed')} failed={tests.get('failed')} "
        f"skipped={tests.get('skipped')}\n"
        f"record: {record.get('record_path', '')}\nlog: {record['log']}"
    )
