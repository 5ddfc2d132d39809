#!/usr/bin/python3
"""golden-chroma-volume: attach and mount the Chroma data volume (a boot-time oneshot).

    golden-chroma-volume mount     find the volume, attach it, format it only when it is
                                   blank, mount it; exit 0 only when it is mounted
    golden-chroma-volume release   unmount (the volume stays attached until the instance
                                   terminates, which detaches it for the next one)

Settings: /etc/chroma/volume.json (from pillar chroma:volume, written by Salt); a build
adds /run/golden/chroma-volume.json, which points it at a scratch directory.

kind "ebs": the volume whose Name tag is `name_tag`, or else the value of the instance's
own tag `instance_tag` (written by the release tool), in this instance's availability
zone. The instance id, zone and region come from the instance metadata service with
IMDSv2 (session token); the EC2 calls (DescribeTags, DescribeVolumes, AttachVolume) use
the instance role. A volume still held by the instance being replaced is waited for.
kind "directory": a local directory bind-mounted instead (the local twin); nothing is
attached or formatted.

Every wait is bounded by `wait_seconds`. Failures name what was missing and leave the
mount point unmounted, so chroma.service (which requires this unit) never writes to the
root disk. Endpoints can be overridden for tests and emulators: GOLDEN_IMDS_ENDPOINT,
AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

SETTINGS = "/etc/chroma/volume.json"
BUILD_OVERRIDE = "/run/golden/chroma-volume.json"
KINDS = ("ebs", "directory")
FS_TYPES = ("ext4", "xfs")
IMDS_DEFAULT = "http://169.254.169.254"
# Besides the journal: a file the CloudWatch agent ships (a stuck volume is what keeps a
# Chroma host from serving).
LOG_FILE = "/var/log/chroma/volume.log"
POLL_SECONDS = 2.0


class VolumeError(Exception):
    """A failure with a message for the journal; the unit fails with it."""


def say(message: str) -> None:
    line = f"golden-chroma-volume: {message}"
    print(line, file=sys.stderr, flush=True)
    try:
        with open(LOG_FILE, "a", encoding="utf-8") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")
    except OSError:
        pass


# -- pure decisions ---------------------------------------------------------------------------


def merge_settings(base: dict, override: dict | None) -> dict:
    """The effective settings, checked; errors name the key and the file to fix."""
    settings = {**base, **(override or {})}
    for key in ("kind", "mount_point", "wait_seconds", "owner"):
        if key not in settings:
            raise VolumeError(f"{SETTINGS}: {key}: required key is missing")
    if settings["kind"] not in KINDS:
        raise VolumeError(
            f"{SETTINGS}: kind: expected one of {', '.join(KINDS)}, got {settings['kind']!r}"
        )
    if settings["kind"] == "directory" and not str(settings.get("directory") or "").startswith("/"):
        raise VolumeError(f"{SETTINGS}: directory: expected an absolute path for kind directory")
    if settings["kind"] == "ebs":
        if settings.get("fs_type") not in FS_TYPES:
            raise VolumeError(
                f"{SETTINGS}: fs_type: expected one of {', '.join(FS_TYPES)}, "
                f"got {settings.get('fs_type')!r}"
            )
        if not str(settings.get("device_name") or "").startswith("/dev/"):
            raise VolumeError(f"{SETTINGS}: device_name: expected /dev/NAME")
    wait = settings["wait_seconds"]
    if isinstance(wait, bool) or not isinstance(wait, int) or not 1 <= wait <= 3600:
        raise VolumeError(f"{SETTINGS}: wait_seconds: expected 1..3600, got {wait!r}")
    return settings


def plan_attachment(volumes: list[dict], instance_id: str, name: str, zone: str) -> tuple:
    """What to do with the DescribeVolumes answer for the volume tagged Name=name:
    ("attached", volume_id, device) | ("attach", volume_id) | ("wait", reason) |
    ("fail", message)."""
    if not volumes:
        return ("fail", f"no EBS volume tagged Name={name} in {zone}")
    if len(volumes) > 1:
        ids = ", ".join(sorted(v["VolumeId"] for v in volumes))
        return (
            "fail",
            f"{len(volumes)} EBS volumes tagged Name={name} in {zone} ({ids}): "
            "expected exactly one",
        )
    volume = volumes[0]
    vid, state = volume["VolumeId"], volume.get("State")
    mine = [a for a in volume.get("Attachments") or [] if a.get("InstanceId") == instance_id]
    others = [a for a in volume.get("Attachments") or [] if a.get("InstanceId") != instance_id]
    if mine:
        if mine[0].get("State") == "attached":
            return ("attached", vid, mine[0].get("Device"))
        return ("wait", f"{vid} is {mine[0].get('State')} on this instance")
    if state in ("error", "deleting", "deleted"):
        return ("fail", f"{vid} is in state {state}")
    if others:
        holder = others[0]
        return (
            "wait",
            f"{vid} is still {holder.get('State')} to {holder.get('InstanceId')} "
            "(the instance being replaced)",
        )
    if state == "available":
        return ("attach", vid)
    return ("wait", f"{vid} is {state}")


def device_candidates(volume_id: str, device_name: str) -> list[str]:
    """Where the attached volume shows up: by its serial on Nitro (NVMe), else under the
    requested name or its sd/xvd twin on Xen."""
    serial = volume_id.replace("-", "")
    names = [f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{serial}", device_name]
    base = device_name.rsplit("/", 1)[-1]
    if base.startswith("sd"):
        names.append("/dev/xvd" + base[2:])
    elif base.startswith("xvd"):
        names.append("/dev/sd" + base[3:])
    return names


def format_action(current_fs: str, wanted_fs: str) -> str:
    """ "mkfs" only for a blank device; "keep" for the expected filesystem; "fail" for
    anything else (never format over data)."""
    if not current_fs:
        return "mkfs"
    if current_fs == wanted_fs:
        return "keep"
    return "fail"


# -- adapters: instance metadata (IMDSv2) and EC2 -------------------------------------------------


class Imds:
    """IMDSv2 only: every read carries a session token; a 401 refreshes it once."""

    def __init__(self, endpoint: str | None = None, timeout: float = 2.0):
        self.endpoint = endpoint or os.environ.get("GOLDEN_IMDS_ENDPOINT") or IMDS_DEFAULT
        self.endpoint = self.endpoint.rstrip("/")
        self.timeout = timeout
        self._session = None

    def _new_session(self) -> str:
        request = urllib.request.Request(
            f"{self.endpoint}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as resp:
            return resp.read().decode()

    def get(self, path: str) -> str:
        for attempt in (1, 2):
            if self._session is None:
                self._session = self._new_session()
            request = urllib.request.Request(
                f"{self.endpoint}/latest/meta-data/{path}",
                headers={"X-aws-ec2-metadata-token": self._session},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    return resp.read().decode().strip()
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and attempt == 1:
                    self._session = None
                    continue
                raise
        raise VolumeError(f"instance metadata {path}: no answer")


def identity(imds: Imds, deadline: float) -> dict:
    """Instance id, zone and region, retried until the deadline (the metadata service can
    lag right after boot)."""
    last = None
    while True:
        try:
            return {
                "instance_id": imds.get("instance-id"),
                "zone": imds.get("placement/availability-zone"),
                "region": imds.get("placement/region"),
            }
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise VolumeError(f"instance metadata ({imds.endpoint}) did not answer: {last}")
        time.sleep(POLL_SECONDS)


def ec2_client(region: str):
    import boto3
    from botocore.config import Config

    # Older botocore (the OS package) does not read AWS_ENDPOINT_URL itself.
    endpoint = os.environ.get("AWS_ENDPOINT_URL_EC2") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=endpoint or None,
        config=Config(
            retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=20
        ),
    )


def volume_name(ec2, settings: dict, instance_id: str) -> str:
    if settings.get("name_tag"):
        return settings["name_tag"]
    key = settings.get("instance_tag") or "golden:data-volume"
    tags = ec2.describe_tags(
        Filters=[
            {"Name": "resource-id", "Values": [instance_id]},
            {"Name": "key", "Values": [key]},
        ]
    ).get("Tags", [])
    if not tags or not tags[0].get("Value"):
        raise VolumeError(
            f"instance {instance_id} has no tag {key} and chroma:volume:name_tag is empty: "
            "cannot tell which volume holds Chroma's data"
        )
    return tags[0]["Value"]


def attach(ec2, settings: dict, ident: dict, deadline: float) -> tuple[str, str]:
    """Attach the tagged volume to this instance (or find it attached); returns
    (volume_id, device name as EC2 reports it)."""
    name = volume_name(ec2, settings, ident["instance_id"])
    filters = [
        {"Name": "tag:Name", "Values": [name]},
        {"Name": "availability-zone", "Values": [ident["zone"]]},
    ]
    requested = False
    last = ""
    while True:
        volumes = ec2.describe_volumes(Filters=filters).get("Volumes", [])
        step = plan_attachment(volumes, ident["instance_id"], name, ident["zone"])
        if step[0] == "fail":
            raise VolumeError(step[1])
        if step[0] == "attached":
            say(f"{step[1]} (Name={name}) is attached as {step[2]}")
            return step[1], step[2]
        if step[0] == "attach" and not requested:
            say(f"attaching {step[1]} (Name={name}) as {settings['device_name']}")
            ec2.attach_volume(
                VolumeId=step[1], InstanceId=ident["instance_id"], Device=settings["device_name"]
            )
            requested = True
        elif step[0] == "wait" and step[1] != last:
            say(f"waiting: {step[1]}")
            last = step[1]
        if time.monotonic() >= deadline:
            what = step[1] if step[0] == "wait" else f"{step[1]} to attach"
            raise VolumeError(f"gave up after {settings['wait_seconds']}s waiting for {what}")
        time.sleep(POLL_SECONDS)


def wait_for_device(candidates: list[str], deadline: float, exists=os.path.exists) -> str:
    while True:
        for path in candidates:
            if exists(path):
                return os.path.realpath(path)
        if time.monotonic() >= deadline:
            raise VolumeError(f"no block device appeared at {' or '.join(candidates)}")
        time.sleep(0.5)


# -- adapters: the block device and the mount ------------------------------------------------------


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise VolumeError(
            f"{' '.join(argv)} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-500:]}"
        )
    return proc


def filesystem_of(device: str) -> str:
    # blkid exits 2 when it finds no signature at all: a blank device.
    proc = subprocess.run(
        ["blkid", "-p", "-o", "value", "-s", "TYPE", device], capture_output=True, text=True
    )
    if proc.returncode == 2:
        return ""
    if proc.returncode != 0:
        raise VolumeError(f"blkid {device} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout.strip()


def prepare_device(device: str, settings: dict) -> None:
    current = filesystem_of(device)
    action = format_action(current, settings["fs_type"])
    if action == "fail":
        raise VolumeError(
            f"{device} holds a {current} filesystem, expected {settings['fs_type']} or a blank "
            "volume: not formatting over it"
        )
    if action == "mkfs":
        say(f"{device} is blank: creating {settings['fs_type']} (label {settings.get('fs_label')})")
        label = ["-L", settings.get("fs_label") or "chroma-data"]
        _run([f"mkfs.{settings['fs_type']}", *label, device])


def mount(settings: dict, source: str, bind: bool) -> None:
    target = settings["mount_point"]
    os.makedirs(target, mode=0o755, exist_ok=True)
    if bind:
        _run(["mount", "--bind", source, target])
    else:
        options = settings.get("mount_options") or "defaults"
        _run(["mount", "-t", settings["fs_type"], "-o", options, source, target])
    # Chroma runs as this uid in its container; nobody else needs the data.
    os.chown(target, settings["owner"], settings["owner"])
    os.chmod(target, 0o750)


def load(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise VolumeError(f"{path}: not valid JSON ({exc})") from None


def do_mount(settings: dict) -> str:
    target = settings["mount_point"]
    if os.path.ismount(target):
        say(f"{target} is already mounted")
        return target
    deadline = time.monotonic() + settings["wait_seconds"]
    if settings["kind"] == "directory":
        source = settings["directory"]
        os.makedirs(source, mode=0o750, exist_ok=True)
        say(f"kind directory: bind-mounting {source} at {target} (nothing to attach)")
        mount(settings, source, bind=True)
        return target
    ident = identity(Imds(), deadline)
    say(f"instance {ident['instance_id']} in {ident['zone']}")
    ec2 = ec2_client(ident["region"])
    volume_id, device_name = attach(ec2, settings, ident, deadline)
    device = wait_for_device(
        device_candidates(volume_id, device_name or settings["device_name"]), deadline
    )
    say(f"{volume_id} is {device}")
    prepare_device(device, settings)
    mount(settings, device, bind=False)
    say(f"mounted {volume_id} ({device}) at {target}")
    return target


def do_release(settings: dict) -> None:
    target = settings["mount_point"]
    if os.path.ismount(target):
        _run(["umount", target])
        say(f"unmounted {target}")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("mount", "release"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        base = load(SETTINGS)
        if base is None:
            raise VolumeError(f"{SETTINGS}: missing (apply the chroma Salt formula)")
        override = load(BUILD_OVERRIDE)
        if override:
            say(f"build: using the scratch volume from {BUILD_OVERRIDE}")
        settings = merge_settings(base, override)
        if argv[1] == "mount":
            do_mount(settings)
        else:
            do_release(settings)
    except VolumeError as exc:
        say(f"error: {exc}")
        return 1
    except Exception as exc:  # boto3/botocore errors: one line for the journal, no traceback
        say(f"error: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
