"""`golden bake --from-base`: which tested base image a two-stage bake starts from.

Locally the base is the newest docker image labelled golden:role=base and
golden:tested=true (by golden:build-time); on AWS Packer picks the newest AMI of this
account named golden-base-* with those tags, through the source AMI filter variables set
here. `choose_base` is the step the bake runs; the rest are pure decisions, apart from
`local_base_images` (docker)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence

from golden.core import tags
from golden.core.errors import PreflightError

# What a two-stage bake starts from: the newest base image of this project's own that
# passed its tests (docker labels locally, AMI tags in the project's own account).
BASE_ROLE = "base"
BASE_SELECTOR = {tags.ROLE: BASE_ROLE, tags.TESTED: tags.TESTED_VALUE}
BASE_AMI_NAME_PATTERN = "golden-base-*"
# The template variables a --from-base bake sets itself, per target.
FROM_BASE_VARS = {
    "local": ("twin_base_image",),
    "aws": ("source_ami_owners", "source_ami_name_pattern", "source_ami_filters"),
}


def choose_base(target: str, say: Callable[[str], None]) -> tuple[dict[str, str], dict]:
    """The base of a --from-base bake of ``target`` ("local" or "aws"): the template
    variables that make Packer start from it, and what the build record says about it.
    Says which base it is through ``say``. Raises PreflightError when no tested base
    image exists locally (on AWS, Packer itself fails when no AMI matches)."""
    if target == "local":
        chosen = newest_tested_base(local_base_images())
        if chosen is None:
            raise PreflightError(
                f"--from-base: no tested base image: none of the {base_filter_text('local')} "
                "exists; bake one with `golden bake --role base --target local`"
            )
        base_record = local_base_provenance(chosen)
        named = ", ".join(base_record["tags"]) or "untagged"
        say(f"from base {chosen['Id'][7:19]} ({named}, built {base_record['build_time']})")
        return {"twin_base_image": chosen["Id"]}, base_record
    say(f"from base: the newest of the {base_filter_text('aws')}")
    return aws_base_variables(), {"role": BASE_ROLE, "source_ami_filter": base_filter_text("aws")}


def base_filter_text(target: str) -> str:
    """How --from-base finds its base, in words for progress and errors."""
    labels = " and ".join(f"{key}={value}" for key, value in BASE_SELECTOR.items())
    if target == "local":
        return f"local docker images labelled {labels}, newest {tags.BUILD_TIME}"
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
    return max(candidates, key=lambda i: (labels(i).get(tags.BUILD_TIME, ""), i.get("Created", "")))


def local_base_provenance(image: dict) -> dict:
    """What a role image records about the base image it was baked from."""
    labels = (image.get("Config") or {}).get("Labels") or {}
    return {
        "role": BASE_ROLE,
        "image": image["Id"],
        "tags": sorted(image.get("RepoTags") or []),
        "version": labels.get(tags.VERSION),
        "build_time": labels.get(tags.BUILD_TIME),
        "git_revision": labels.get(tags.GIT_REVISION),
        "state_tree_revision": labels.get(tags.STATE_TREE_REVISION),
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
