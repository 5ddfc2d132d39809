"""The Chroma data volume's boot step (salt/chroma/files/golden-chroma-volume.py).

Decisions are tested as pure functions. The AWS half (IMDSv2 identity, DescribeTags,
DescribeVolumes, AttachVolume, bounded waits) runs against a moto server and a stand-in
metadata service, both on 127.0.0.1. Not modelled here: a real block device appearing
(moto attaches nothing to this machine), mkfs and mount; the twin exercises the mount
with its directory volume, and the AWS path's device wait is tested with a fake path
check."""

from __future__ import annotations

import http.server
import importlib.util
import json
import threading
import time

import boto3
import pytest
from golden.core.provenance import REPO
from moto.server import ThreadedMotoServer

SCRIPT = REPO / "salt" / "chroma" / "files" / "golden-chroma-volume.py"
ZONE = "us-east-1a"
NAME = "golden-test-chroma-data"


@pytest.fixture(scope="module")
def vol():
    spec = importlib.util.spec_from_file_location("golden_chroma_volume", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.POLL_SECONDS = 0.05
    module.LOG_FILE = "/nonexistent-dir/volume.log"
    return module


def settings(**overrides):
    base = {
        "kind": "ebs",
        "mount_point": "/var/lib/chroma",
        "wait_seconds": 60,
        "owner": 10002,
        "device_name": "/dev/xvdf",
        "fs_type": "ext4",
        "name_tag": "",
        "instance_tag": "golden:data-volume",
    }
    return {**base, **overrides}


# -- pure decisions ---------------------------------------------------------------------------


def volume(state="available", attachments=()):
    return {"VolumeId": "vol-0abc", "State": state, "Attachments": list(attachments)}


def test_available_volume_is_attached(vol):
    assert vol.plan_attachment([volume()], "i-me", NAME, ZONE) == ("attach", "vol-0abc")


def test_volume_attached_here_is_used_as_is(vol):
    att = {"InstanceId": "i-me", "State": "attached", "Device": "/dev/xvdf"}
    assert vol.plan_attachment([volume("in-use", [att])], "i-me", NAME, ZONE) == (
        "attached",
        "vol-0abc",
        "/dev/xvdf",
    )


def test_volume_held_by_the_replaced_instance_is_waited_for(vol):
    att = {"InstanceId": "i-old", "State": "detaching"}
    kind, reason = vol.plan_attachment([volume("in-use", [att])], "i-me", NAME, ZONE)
    assert kind == "wait" and "i-old" in reason and "vol-0abc" in reason


@pytest.mark.parametrize(
    "volumes,message",
    [
        ([], f"no EBS volume tagged Name={NAME} in {ZONE}"),
        ([volume(), {**volume(), "VolumeId": "vol-0def"}], "2 EBS volumes tagged"),
        ([volume("error")], "vol-0abc is in state error"),
    ],
)
def test_missing_ambiguous_or_broken_volume_fails(vol, volumes, message):
    kind, text = vol.plan_attachment(volumes, "i-me", NAME, ZONE)
    assert kind == "fail" and message in text


def test_device_is_looked_for_by_nvme_serial_then_by_name(vol):
    assert vol.device_candidates("vol-0abc123", "/dev/xvdf") == [
        "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc123",
        "/dev/xvdf",
        "/dev/sdf",
    ]
    assert vol.device_candidates("vol-1", "/dev/sdg")[1:] == ["/dev/sdg", "/dev/xvdg"]


@pytest.mark.parametrize(
    "current,action", [("", "mkfs"), ("ext4", "keep"), ("xfs", "fail"), ("LVM2_member", "fail")]
)
def test_only_a_blank_device_is_formatted(vol, current, action):
    assert vol.format_action(current, "ext4") == action


def test_build_override_turns_the_volume_into_a_directory(vol):
    merged = vol.merge_settings(settings(), {"kind": "directory", "directory": "/var/tmp/x"})
    assert merged["kind"] == "directory" and merged["directory"] == "/var/tmp/x"
    assert merged["mount_point"] == "/var/lib/chroma"


@pytest.mark.parametrize(
    "override,message",
    [
        ({"kind": "nfs"}, "kind: expected one of ebs, directory"),
        ({"kind": "directory", "directory": "relative"}, "directory: expected an absolute path"),
        ({"fs_type": "btrfs"}, "fs_type: expected one of ext4, xfs"),
        ({"wait_seconds": 0}, "wait_seconds: expected 1..3600"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(vol, override, message):
    with pytest.raises(vol.VolumeError, match=message):
        vol.merge_settings(settings(**override), None)


def test_device_wait_is_bounded(vol):
    started = time.monotonic()
    with pytest.raises(vol.VolumeError, match="no block device appeared at /dev/xvdf"):
        vol.wait_for_device(["/dev/xvdf"], time.monotonic() + 0.3, exists=lambda p: False)
    # Given up (an unbounded wait never returns); the margin is for a busy machine.
    assert time.monotonic() - started < 30


def test_device_found_under_its_nvme_name(vol):
    seen = iter([False, False, True])
    found = vol.wait_for_device(
        ["/dev/disk/by-id/nvme-x", "/dev/xvdf"],
        time.monotonic() + 5,
        exists=lambda p: p.endswith("nvme-x") and next(seen),
    )
    assert found.endswith("nvme-x")


# -- the AWS half against moto and a stand-in metadata service ------------------------------------


class _Imds(http.server.BaseHTTPRequestHandler):
    """IMDSv2 only: GETs without the session token get 401, like an instance launched
    with HttpTokens=required."""

    token = "imds-session-token"
    answers: dict = {}
    puts = 0

    def do_PUT(self):  # noqa: N802
        if self.path != "/latest/api/token" or not self.headers.get(
            "X-aws-ec2-metadata-token-ttl-seconds"
        ):
            self.send_error(400)
            return
        type(self).puts += 1
        self._reply(200, self.token)

    def do_GET(self):  # noqa: N802
        if self.headers.get("X-aws-ec2-metadata-token") != self.token:
            self._reply(401, "")
            return
        key = self.path.removeprefix("/latest/meta-data/")
        if key not in self.answers:
            self._reply(404, "")
            return
        self._reply(200, self.answers[key])

    def _reply(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10
    ).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_endpoint)
    image = ec2.describe_images()["Images"][0]["ImageId"]

    def instance(tags=None):
        spec = [
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
            }
        ]
        reply = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            Placement={"AvailabilityZone": ZONE},
            TagSpecifications=spec if tags else [],
        )
        return reply["Instances"][0]["InstanceId"]

    def data_volume(name=NAME, zone=ZONE):
        return ec2.create_volume(
            AvailabilityZone=zone,
            Size=10,
            VolumeType="gp3",
            Encrypted=True,
            TagSpecifications=[
                {"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": name}]}
            ],
        )["VolumeId"]

    return ec2, instance, data_volume


@pytest.fixture
def imds(monkeypatch):
    _Imds.answers, _Imds.puts = {}, 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Imds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("GOLDEN_IMDS_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield _Imds
    server.shutdown()
    server.server_close()


def identify(vol, imds, instance_id):
    imds.answers = {
        "instance-id": instance_id,
        "placement/availability-zone": ZONE,
        "placement/region": "us-east-1",
    }
    return vol.identity(vol.Imds(), time.monotonic() + 5)


def test_identity_comes_from_imdsv2_with_a_session_token(vol, imds):
    ident = identify(vol, imds, "i-0123456789abcdef0")
    assert ident == {"instance_id": "i-0123456789abcdef0", "zone": ZONE, "region": "us-east-1"}
    assert imds.puts == 1  # one session for all three reads


def test_volume_named_by_the_instance_tag_is_attached(vol, aws, imds):
    ec2, instance, data_volume = aws
    me = instance({"golden:data-volume": NAME})
    vid = data_volume()
    data_volume(zone="us-east-1b")  # same name in another zone: not this instance's
    ident = identify(vol, imds, me)
    client = vol.ec2_client(ident["region"])
    got = vol.attach(client, settings(), ident, time.monotonic() + 20)
    assert got == (vid, "/dev/xvdf")
    attachment = ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["Attachments"][0]
    assert attachment["InstanceId"] == me and attachment["Device"] == "/dev/xvdf"
    # Run again (the unit restarted): found attached, nothing attached twice.
    assert vol.attach(client, settings(), ident, time.monotonic() + 5) == (vid, "/dev/xvdf")


def test_pillar_name_tag_wins_over_the_instance_tag(vol, aws, imds):
    ec2, instance, data_volume = aws
    me = instance({"golden:data-volume": "some-other-volume"})
    vid = data_volume("pinned-by-pillar")
    ident = identify(vol, imds, me)
    got = vol.attach(
        vol.ec2_client("us-east-1"),
        settings(name_tag="pinned-by-pillar"),
        ident,
        time.monotonic() + 20,
    )
    assert got[0] == vid


def test_instance_without_the_tag_fails_naming_it(vol, aws, imds):
    _, instance, data_volume = aws
    data_volume()
    ident = identify(vol, imds, instance())
    with pytest.raises(vol.VolumeError, match="has no tag golden:data-volume"):
        vol.attach(vol.ec2_client("us-east-1"), settings(), ident, time.monotonic() + 5)


def test_volume_held_by_another_instance_is_waited_for_then_given_up(vol, aws, imds):
    ec2, instance, data_volume = aws
    old = instance()
    me = instance({"golden:data-volume": NAME})
    vid = data_volume()
    ec2.attach_volume(VolumeId=vid, InstanceId=old, Device="/dev/xvdf")
    ident = identify(vol, imds, me)
    started = time.monotonic()
    with pytest.raises(
        vol.VolumeError, match=f"gave up after 1s waiting for {vid} is still attached to {old}"
    ):
        vol.attach(
            vol.ec2_client("us-east-1"), settings(wait_seconds=1), ident, time.monotonic() + 1
        )
    assert time.monotonic() - started < 30


def test_volume_freed_by_the_old_instance_is_attached(vol, aws, imds):
    ec2, instance, data_volume = aws
    old = instance()
    me = instance({"golden:data-volume": NAME})
    vid = data_volume()
    ec2.attach_volume(VolumeId=vid, InstanceId=old, Device="/dev/xvdf")
    ident = identify(vol, imds, me)
    # The old instance lets go a moment after the new one starts waiting.
    timer = threading.Timer(0.3, lambda: ec2.detach_volume(VolumeId=vid, InstanceId=old))
    timer.start()
    try:
        got = vol.attach(vol.ec2_client("us-east-1"), settings(), ident, time.monotonic() + 20)
    finally:
        timer.cancel()
    assert got[0] == vid
    attachment = ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["Attachments"][0]
    assert attachment["InstanceId"] == me


def test_main_reports_a_missing_settings_file(vol, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(vol, "SETTINGS", str(tmp_path / "volume.json"))
    assert vol.main(["golden-chroma-volume", "mount"]) == 1
    assert "volume.json: missing" in capsys.readouterr().err


def test_main_refuses_bad_settings_before_touching_anything(vol, monkeypatch, tmp_path, capsys):
    path = tmp_path / "volume.json"
    path.write_text(json.dumps(settings(kind="nfs", mount_point=str(tmp_path / "mnt"))))
    monkeypatch.setattr(vol, "SETTINGS", str(path))
    monkeypatch.setattr(vol, "BUILD_OVERRIDE", str(tmp_path / "none.json"))
    assert vol.main(["golden-chroma-volume", "mount"]) == 1
    assert "kind: expected one of ebs, directory" in capsys.readouterr().err
    assert not (tmp_path / "mnt").exists()
