"""What one bake will do, decided once preflight passed and before anything is written:
its id and where its files go (build/bakes/<id>/ and <id>.json), the template variables
the wrapper sets, and the provenance staged into the image.

`plan_bake` reads the repository's revisions (git) and the application images the role
pins (request.image_refs_for_role); everything else is plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from golden.bake.preflight import PackerTool, Preflight
from golden.bake.request import (
    BakeRequest,
    Paths,
    app_images_value,
    bake_id,
    image_refs_for_role,
    only_filter,
    template_default,
)
from golden.core import provenance


@dataclass
class Plan:
    """One bake of a checked request. ``variables`` are the template variables the bake
    passes with -var (the request's and the wrapper's); the bake sets staging_dir in it
    once it knows the staging folder."""

    request: BakeRequest
    paths: Paths
    packer: PackerTool
    entries: dict[str, Path]  # staging: destination -> source
    base: dict | None  # the base a --from-base bake starts from (frombase.choose_base)
    started_at: datetime
    ident: str
    workdir: Path
    record_path: Path
    repo_rev: str
    state_rev: str
    refs: list[str]  # digest references of the application images the role pins
    app_images: str  # their golden:app-images tag value
    stage_provenance: dict
    variables: dict[str, str]
    inputs: dict  # locks' digests and the wheelhouse manifest (preflight.check_wheelhouse)
    checked: Preflight  # what preflight found (the supply-chain policy, the build region)

    @property
    def scan_path(self) -> Path:
        """ScanSbom's report, beside the SBOM."""
        return self.workdir / "scan.json"

    @property
    def stage_dir(self) -> Path:
        return self.workdir / "stage"

    @property
    def log_path(self) -> Path:
        return self.workdir / "packer.log"

    @property
    def packages_path(self) -> Path:
        """The image's package record, downloaded by the template's file provisioner."""
        return self.workdir / "packages.json"

    @property
    def sbom_path(self) -> Path:
        """The image's SBOM, downloaded by the template's file provisioner."""
        return self.workdir / "sbom.cdx.json"

    @property
    def manifest_path(self) -> Path:
        return self.workdir / "manifest.json"

    @property
    def only(self) -> str:
        return only_filter(self.request.target)


def plan_bake(request: BakeRequest, paths: Paths, checked: Preflight, started_at: datetime) -> Plan:
    """The plan of a checked request that passed preflight, started at ``started_at``
    (UTC). An app_images variable given with --var replaces the value the wrapper
    computes (it is taken out of ``request.variables``)."""
    ident = bake_id(request.role, started_at)
    bakes = paths.build / "bakes"
    workdir = bakes / ident
    record_path = bakes / f"{ident}.json"
    manifest_path = workdir / "manifest.json"
    repo_rev, state_rev = provenance.revisions(paths.repo)
    refs = image_refs_for_role(request.role, checked.entries)
    app_images = request.variables.pop("app_images", None) or app_images_value(refs)
    build_time = started_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    version_value = request.variables.get("version") or template_default(
        checked.variables_text, "version"
    )
    version_text = checked.packer.version
    stage_provenance = {
        "role": request.role,
        "version": version_value,
        "git_revision": repo_rev,
        "state_tree_revision": state_rev,
        "build_time": build_time,
        "app_images": app_images,
        "packer_version": version_text,
    }
    if checked.base:
        stage_provenance["base"] = checked.base
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
        "packages_path": str(workdir / "packages.json"),
        "sbom_path": str(workdir / "sbom.cdx.json"),
    }
    return Plan(
        request=request,
        paths=paths,
        packer=checked.packer,
        entries=checked.entries,
        base=checked.base,
        started_at=started_at,
        ident=ident,
        workdir=workdir,
        record_path=record_path,
        repo_rev=repo_rev,
        state_rev=state_rev,
        refs=refs,
        app_images=app_images,
        stage_provenance=stage_provenance,
        variables=variables,
        inputs=checked.inputs,
        checked=checked,
    )
