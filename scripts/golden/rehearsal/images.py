"""The rehearsal's images: real bakes of this checkout that differ by a pillar value, and
the emulated AMIs that stand for them.

A release differs from the last one by a commit; a rehearsal's image differs by one
value in the app role's pillar (`app:environment`: APP_RELEASE, and for a bad image the
sample backend's APP_SIMULATE_FAULT). Each variant is a copy of the checkout's files with
that value set, baked with Packer's docker source through `golden bake` (the same
provisioners, highstate and in-bake tests as an AMI; each on the image before it, v2 on
the twin image and a bad one on v2, see plan.Variant.starts_from), into its own repository
(golden-rehearsal/twin-app) so the twin image `make local` uses is never replaced.
A bake is skipped when an image of the same variant inputs was already baked and tested.

Each image is then registered in the emulator as an AMI tagged like the bake tags AMIs,
plus ``golden:twin-image`` = the docker image id: the emulator's runtime launches that
image when an instance is launched from the AMI."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import yaml

from golden.bake import build as bake_build
from golden.bake.request import BakeRequest
from golden.core import containers, tags
from golden.core.errors import OperationFailed
from golden.core.shell import eprint
from golden.rehearsal.instances import TWIN_IMAGE_TAG
from golden.rehearsal.plan import Variant

REPOSITORY = "golden-rehearsal/twin-{role}"
INPUTS_LABEL = "io.golden.rehearsal.inputs"
# What a bake reads from the checkout (build/ and .state/ are passed explicitly).
_SKIP = ("build/", ".state/", ".git/", ".venv/")
# Everything an image is made of, golden's own code included (the boot step and the
# instance side of hotfix and drift run from the wheel the bake installs).
_HASHED = ("salt/", "pillar/", "schemas/", "packer/", "scripts/", "autoscaling/",
           "pyproject.toml", "tests/image/")
# Jobs that run on the operator's machine only: a change there changes no instance.
_OPERATOR_SIDE = tuple(f"scripts/golden/{job}/" for job in
                       ("rehearsal", "bench", "cost", "infra", "cutover", "audit"))  # fmt: skip


def tracked_files(repo: Path) -> list[str]:
    """The checkout's files (committed or new, not ignored), as git lists them."""
    proc = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-co", "--exclude-standard"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return sorted(
        f for f in proc.stdout.splitlines() if f and not f.startswith(_SKIP)
        and (repo / f).is_file()
    )  # fmt: skip


def set_app_environment(pillar_text: str, values: dict[str, str]) -> str:
    """The app role pillar (plain YAML) with ``values`` merged into app:environment."""
    data = yaml.safe_load(pillar_text) or {}
    app = data.setdefault("app", {})
    app["environment"] = {**(app.get("environment") or {}), **values}
    return yaml.safe_dump(data, sort_keys=False)


def variant_inputs(repo: Path, files: list[str], variant: Variant, extra: str) -> str:
    """A digest of everything that makes the variant's image: the state tree, Packer,
    provisioning, golden's code, the image tests, the variant's values, and ``extra`` (app
    archive manifest, base image)."""
    digest = hashlib.sha256(repr(sorted(variant.app_environment.items())).encode())
    digest.update(extra.encode())
    for name in files:
        if name.startswith(_HASHED) and not name.startswith(_OPERATOR_SIDE):
            digest.update(name.encode() + b"\0" + (repo / name).read_bytes())
    return digest.hexdigest()[:16]


def lay_out(repo: Path, dest: Path, files: list[str], variant: Variant) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, target)
    pillar = dest / "pillar" / "roles" / "app.sls"
    pillar.write_text(set_app_environment(pillar.read_text(), variant.app_environment))


def _existing(ref: str, inputs: str) -> str | None:
    info = containers.image_inspect(ref)
    labels = ((info or {}).get("Config") or {}).get("Labels") or {}
    if info and labels.get(INPUTS_LABEL) == inputs and labels.get(tags.TESTED) == "true":
        return info["Id"]
    return None


def bake_variant(repo: Path, workdir: Path, variant: Variant, *, ca_bundle: Path | None,
                 source_image: str | None = None) -> str:  # fmt: skip
    """Bake ``variant`` (or reuse the image of the same inputs); its docker image id.

    ``source_image``: the docker image id the bake starts from (Packer's twin_base_image)
    instead of the base OS image, e.g. v2's tested image for a bad variant; it is one of
    the inputs, and the image records it in its golden:source-image label. Raises
    OperationFailed when the bake fails its tests or leaves no image."""
    files = tracked_files(repo)
    images = repo / "build" / "images"
    manifest = images / "sample-app.json"
    base = containers.image_inspect("golden/base:bookworm") or {}
    # The stand-ins' CA goes into the image (TLS to PostgreSQL and Redis): an image baked
    # by another checkout, against other stand-ins, is not this one's.
    ca = ca_bundle.read_text() if ca_bundle is not None and ca_bundle.exists() else ""
    extra = (manifest.read_text() if manifest.exists() else "") + base.get("Id", "") + ca
    if source_image:
        extra += f"\0source image {source_image}"
    inputs = variant_inputs(repo, files, variant, extra)
    # The bake's version goes into the image's tag and name: it must look like 1.2.3-x.
    version = f"0.0.0-{variant.label}.{inputs}"
    ref = f"{REPOSITORY.format(role='app')}:{version}"
    found = _existing(ref, inputs)
    if found:
        eprint(f"rehearsal: image {variant.label} is baked already ({ref})")
        return found
    tree = workdir / f"tree-{variant.label}"
    lay_out(repo, tree, files, variant)
    on = f" on {variant.starts_from}'s image {source_image[7:19]}" if source_image else ""
    eprint(f"rehearsal: baking {variant.label} ({variant.app_environment}){on} from {tree}")
    variables = {"version": version}
    if source_image:
        variables["twin_base_image"] = source_image
    record = bake_build.bake(
        BakeRequest(
            role="app",
            target="local",
            variables=variables,
            wheelhouse=repo / "build" / "wheelhouse",
            images=images,
            ca_bundle=ca_bundle,
            local_repository=REPOSITORY,
        ),
        repo=tree,
    )
    if not record.get("tested"):
        raise OperationFailed(f"rehearsal: the bake of {variant.label} did not pass its tests")
    # Label the tested image with its inputs so the next rehearsal reuses it.
    tested = containers.image_inspect(ref)
    if tested is None:
        raise OperationFailed(f"rehearsal: the bake of {variant.label} left no image {ref}")
    subprocess.run(
        ["docker", "build", "-q", "-t", ref, "--label", f"{INPUTS_LABEL}={inputs}", "-"],
        input=f"FROM {tested['Id']}\n".encode(), capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    return containers.image_inspect(ref)["Id"]


def register(ec2, variant: Variant, image_id: str, register_ami) -> str:
    """An emulated AMI for the image (tags as the bake sets them) that names the image."""
    ami = register_ami(ec2, "app", f"rehearsal-{variant.label}", name=f"golden-app-{variant.label}")
    ec2.create_tags(
        Resources=[ami],
        Tags=[{"Key": TWIN_IMAGE_TAG, "Value": image_id},
              {"Key": "golden:rehearsal-variant", "Value": variant.label}],
    )  # fmt: skip
    return ami
