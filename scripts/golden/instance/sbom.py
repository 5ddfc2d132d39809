"""`golden instance sbom`: the image's CycloneDX SBOM, made inside the bake (after the
highstate, scripts/provision.sh) from this machine's dpkg database, the Python
environment golden runs in (Salt's, /opt/salt), the image record's pinned container
images (/etc/golden/image.json) and the staged image archives' manifests (their images'
digests and Python packages). golden.core.sbom builds the document.

`collect` reads; `write` writes the JSON (what the bake downloads next to its record)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from golden.core import sbom
from golden.core.errors import ConfigError

SBOM_PATH = Path("/etc/golden/sbom.cdx.json")
IMAGE_JSON = Path("/etc/golden/image.json")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from None


def container_images(image_json: dict, archives: list[Path]) -> list[sbom.ContainerImage]:
    """The images the role carries, one per digest: those of the archives' manifests
    (with their Python packages) first, then the digest references of the image record
    that no archive holds."""
    found: dict[str, sbom.ContainerImage] = {}
    for manifest in archives:
        for image in sbom.archive_images(_read_json(manifest)):
            found.setdefault(image.digest, image)
    for image in sbom.digest_images(image_json.get("app_images") or {}):
        found.setdefault(image.digest, image)
    return list(found.values())


def collect(
    *,
    images_dir: Path | None = None,
    image_json: Path = IMAGE_JSON,
    dpkg_status: Path = sbom.DPKG_STATUS,
    os_release: Path = sbom.OS_RELEASE,
    python_paths: list[str] | None = None,
    now: datetime | None = None,
) -> dict:
    """The SBOM document of this machine. ``images_dir`` holds the staged image archives'
    manifests (*.json); every path is a parameter so a test reads any machine's files."""
    record = _read_json(image_json)
    release = sbom.os_release(os_release)
    role = record.get("role") or "unknown"
    subject = sbom.Subject(
        name=f"golden-{role}",
        version=str(record.get("version") or "dev"),
        os_id=release.get("ID", "linux"),
        os_version=release.get("VERSION_ID", ""),
        os_codename=release.get("VERSION_CODENAME", ""),
    )
    archives = sorted(Path(images_dir).glob("*.json")) if images_dir else []
    return sbom.document(
        subject,
        sbom.dpkg_packages(dpkg_status),
        sbom.python_packages(python_paths),
        container_images(record, archives),
        now or datetime.now(timezone.utc),
    )


def write(doc: dict, path: Path) -> int:
    """The document as JSON at ``path``; returns its size in bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    path.write_text(data, encoding="utf-8")
    return len(data.encode())
