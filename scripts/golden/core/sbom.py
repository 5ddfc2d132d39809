"""The software bill of materials (SBOM) of an image: a CycloneDX 1.5 JSON document
(the version Amazon Inspector's ScanSbom accepts) listing

- every installed OS package (dpkg: name, version, architecture, source package) as
  `pkg:deb/<os id>/<name>@<version>?arch=<arch>&distro=<codename>`;
- every Python package of Salt's environment (/opt/salt, where golden runs) as
  `pkg:pypi/<name>@<version>`;
- every application container image, by digest, as `pkg:oci/<name>@sha256:...`, and the
  Python packages inside it (recorded when its archive was built), each with the property
  `golden:found-in` naming the image.

Made inside the bake by `golden instance sbom` (scripts/provision.sh), stored beside the
build record, uploaded with the AMI. ``document`` decides (pure, over plain data); the
readers below (`dpkg_packages`, `python_packages`, `os_release`) are the adapters, and
work on any Debian-family machine, this one included.

Source of the field names: CycloneDX 1.5 (https://cyclonedx.org/docs/1.5/json/) and the
package URL specification (https://github.com/package-url/purl-spec).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SPEC_VERSION = "1.5"
# ScanSbom refuses a document with more components (Inspector API reference, ScanSbom).
INSPECTOR_MAX_COMPONENTS = 2000
FOUND_IN = "golden:found-in"
DPKG_STATUS = Path("/var/lib/dpkg/status")
OS_RELEASE = Path("/etc/os-release")


@dataclass(frozen=True)
class OsPackage:
    """One installed dpkg package."""

    name: str
    version: str
    arch: str
    source: str | None = None


@dataclass(frozen=True)
class PythonPackage:
    """One installed Python distribution (name as its metadata spells it)."""

    name: str
    version: str


@dataclass(frozen=True)
class ContainerImage:
    """An application image the image carries: its name, its digest (sha256:...) and the
    Python packages inside it."""

    name: str
    digest: str
    repository: str | None = None
    python: tuple[PythonPackage, ...] = field(default=())


@dataclass(frozen=True)
class Subject:
    """What the SBOM describes: the image's name (golden-<role>), version, and the OS
    (os-release ID, VERSION_ID, VERSION_CODENAME)."""

    name: str
    version: str
    os_id: str
    os_version: str
    os_codename: str


def _purl_deb(package: OsPackage, subject: Subject) -> str:
    from packageurl import PackageURL

    qualifiers = {"arch": package.arch, "distro": subject.os_codename or subject.os_version}
    return str(PackageURL(type="deb", namespace=subject.os_id, name=package.name,
                          version=package.version, qualifiers=qualifiers))  # fmt: skip


def document(
    subject: Subject,
    os_packages: Iterable[OsPackage],
    python: Iterable[PythonPackage],
    images: Iterable[ContainerImage],
    created: datetime,
) -> dict:
    """The CycloneDX 1.5 document (as a dict) of one image, with components sorted by
    bom-ref and a serial number derived from the content, so the same inputs give the
    same document. ``created`` is the metadata timestamp (the bake's time)."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot5
    from packageurl import PackageURL

    components = []
    for package in os_packages:
        purl = _purl_deb(package, subject)
        source = package.source
        props = [Property(name="golden:dpkg-source", value=source)] if source else []
        components.append(Component(
            type=ComponentType.LIBRARY, name=package.name, version=package.version,
            purl=PackageURL.from_string(purl), bom_ref=purl, properties=props,
        ))  # fmt: skip
    for package in python:
        purl = PackageURL(type="pypi", name=package.name.lower(), version=package.version)
        components.append(Component(
            type=ComponentType.LIBRARY, name=package.name, version=package.version,
            purl=purl, bom_ref=str(purl),
        ))  # fmt: skip
    for image in images:
        qualifiers = {"repository_url": image.repository} if image.repository else None
        purl = PackageURL(type="oci", name=image.name.rsplit("/", 1)[-1], version=image.digest,
                          qualifiers=qualifiers)  # fmt: skip
        components.append(Component(
            type=ComponentType.CONTAINER, name=image.name, version=image.digest,
            purl=purl, bom_ref=str(purl),
        ))  # fmt: skip
        for package in image.python:
            inner = PackageURL(type="pypi", name=package.name.lower(), version=package.version)
            components.append(Component(
                type=ComponentType.LIBRARY, name=package.name, version=package.version,
                purl=inner, bom_ref=f"{inner}#{image.name}",
                properties=[Property(name=FOUND_IN, value=f"{image.name}@{image.digest}")],
            ))  # fmt: skip
    components.sort(key=lambda c: str(c.bom_ref.value))
    seed = json.dumps([subject.name, subject.version, [str(c.bom_ref.value) for c in components]])
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, seed), components=components)
    bom.metadata.timestamp = created
    bom.metadata.component = Component(
        type=ComponentType.OPERATING_SYSTEM, name=subject.name, version=subject.version,
        bom_ref=f"{subject.name}@{subject.version}",
        properties=[Property(name="golden:os", value=f"{subject.os_id} {subject.os_version}")],
    )  # fmt: skip
    # The image contains every component: the root's dependency list says so, which keeps
    # the dependency graph complete (the library warns otherwise).
    bom.register_dependency(bom.metadata.component, components)
    return json.loads(JsonV1Dot5(bom).output_as_string())


def counts(doc: dict) -> dict[str, int]:
    """Components of a document by kind: deb, pypi (Salt's environment), container,
    pypi in containers; and the total."""
    found = {"deb": 0, "pypi": 0, "container": 0, "container_pypi": 0}
    for component in doc.get("components") or []:
        purl = component.get("purl", "")
        if purl.startswith("pkg:deb/"):
            found["deb"] += 1
        elif purl.startswith("pkg:oci/"):
            found["container"] += 1
        elif purl.startswith("pkg:pypi/"):
            inside = any(p.get("name") == FOUND_IN for p in component.get("properties") or [])
            found["container_pypi" if inside else "pypi"] += 1
    found["total"] = sum(found.values())
    return found


def validation_errors(doc: dict) -> str | None:
    """None when ``doc`` is valid CycloneDX 1.5 JSON against the schema the library
    ships; else the validator's message. Needs cyclonedx-python-lib[json-validation]."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(doc))
    return None if error is None else str(error)


# -- readers (adapters) -----------------------------------------------------------------------
def parse_dpkg_status(text: str) -> list[OsPackage]:
    """The installed packages of a dpkg status file (Status: install ok installed),
    sorted by name and architecture."""
    found = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Status", "").split()[-1:] != ["installed"] or "Package" not in fields:
            continue
        source = fields.get("Source", "").split(" ", 1)[0] or None
        found.append(OsPackage(fields["Package"], fields.get("Version", ""),
                               fields.get("Architecture", ""), source))  # fmt: skip
    return sorted(found, key=lambda p: (p.name, p.arch))


def dpkg_packages(status: Path = DPKG_STATUS) -> list[OsPackage]:
    """The installed packages of this machine (or the dpkg status file ``status``)."""
    return parse_dpkg_status(Path(status).read_text(encoding="utf-8", errors="replace"))


def python_packages(paths: list[str] | None = None) -> list[PythonPackage]:
    """The Python distributions of the running interpreter's environment (or of the
    site-packages folders ``paths``), one per name, sorted."""
    from importlib import metadata

    found: dict[str, PythonPackage] = {}
    for dist in metadata.distributions(**({"path": paths} if paths else {})):
        name = dist.metadata["Name"]
        if name and name.lower() not in found:
            found[name.lower()] = PythonPackage(name, dist.version)
    return [found[k] for k in sorted(found)]


def os_release(path: Path = OS_RELEASE) -> dict[str, str]:
    """/etc/os-release as a dict (quotes removed)."""
    values = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    return values


def archive_images(manifest: dict) -> list[ContainerImage]:
    """The container images an image archive's manifest (images/<name>.json, written by
    golden app-images build / chroma-image build) records: name, id (sha256 digest of
    the image config) and the Python packages found in it."""
    images = []
    for name, image in sorted((manifest.get("images") or {}).items()):
        if not isinstance(image, dict) or not str(image.get("id", "")).startswith("sha256:"):
            continue
        python = tuple(PythonPackage(p["name"], p["version"])
                       for p in image.get("python_packages") or [])  # fmt: skip
        repository = str(image.get("ref", "")).rsplit(":", 1)[0] or None
        images.append(ContainerImage(name, image["id"], repository, python))
    return images


def digest_images(refs: dict) -> list[ContainerImage]:
    """Images the pillar pins by digest ({name: "registry/repo@sha256:..."}), as in
    /etc/golden/image.json's app_images; entries without a digest are left out."""
    images = []
    for name, ref in sorted((refs or {}).items()):
        if isinstance(ref, str) and "@sha256:" in ref:
            repository, digest = ref.split("@", 1)
            images.append(ContainerImage(name, digest, repository))
    return images
