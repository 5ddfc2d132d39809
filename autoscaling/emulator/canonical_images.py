"""Canonical's Ubuntu 22.04 (jammy) server images, as every region of the emulator holds them.

moto 5.2 ships Canonical images only up to 16.04, and MOTO_AMIS_PATH (its way to load
others) replaces moto's whole default list and must be set before moto is imported. So the
emulator adds these next to moto's defaults when a region's EC2 backend is created
(patches.py wraps the AMI loader). With them, the template's default source_ami_filter
(name ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-<arch>-server-*, owner 099720109477,
architecture, hvm, ebs, most_recent) finds an image unchanged.

Attributes follow what DescribeImages answers for these images on AWS: public, owner
099720109477 without an ImageOwnerAlias (AWS gives an alias only to amazon,
aws-marketplace and aws-backup-vault images), ebs root at /dev/sda1, hvm, xen, ENA-capable
image names per architecture. Image ids are fixed per region and serial (a real id differs
per region too) so two emulator runs agree. Not modelled: the real ids, the 8 GiB gp2 root
mapping (moto reports every image's root as a 15 GiB standard volume), product codes,
TPM/IMDS support attributes and deprecation times.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

CANONICAL_OWNER = "099720109477"
NAME_PREFIX = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04"
# Two builds per architecture, so `most_recent = true` has a choice to make.
SERIALS = ("20240126", "20250305")
ARCHITECTURES = {"amd64": "x86_64", "arm64": "arm64"}
# AWS's BootMode for these builds: amd64 boots either way, arm64 (Graviton) needs UEFI.
BOOT_MODES = {"amd64": "uefi-preferred", "arm64": "uefi"}


def image_name(arch: str, serial: str) -> str:
    return f"{NAME_PREFIX}-{arch}-server-{serial}"


def image_id(region: str, name: str) -> str:
    """ami- and 17 hex digits, stable for (region, name)."""
    return "ami-" + hashlib.sha256(f"{region}/{name}".encode()).hexdigest()[:17]


def catalogue(region: str) -> list[dict]:
    """Keyword arguments for moto's Ami, one per image this region holds."""
    images = []
    for arch, aws_arch in ARCHITECTURES.items():
        for serial in SERIALS:
            name = image_name(arch, serial)
            built = datetime.strptime(serial, "%Y%m%d").replace(tzinfo=timezone.utc)
            images.append(
                {
                    "ami_id": image_id(region, name),
                    "name": name,
                    "description": (
                        f"Canonical, Ubuntu, 22.04 LTS, {arch} jammy image build on "
                        f"{built:%Y-%m-%d}"
                    ),
                    "owner_id": CANONICAL_OWNER,
                    "owner_alias": None,
                    "public": True,
                    "architecture": aws_arch,
                    "virtualization_type": "hvm",
                    "hypervisor": "xen",
                    "root_device_type": "ebs",
                    "root_device_name": "/dev/sda1",
                    "image_location": f"{CANONICAL_OWNER}/{name}",
                    "creation_date": built,
                    "boot_mode": BOOT_MODES[arch],
                    "sriov": "simple",
                }
            )
    return images
