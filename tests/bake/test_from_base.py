"""Two-stage bakes (`golden bake --from-base`) and the CA bundle a bake stages, without
baking: the template's source filter, the wrapper's decisions and preflight errors, real
`packer validate`, and real Packer asking an EC2 emulator for the base AMI.

The EC2 emulator is moto in server mode on 127.0.0.1 with its AMI list replaced
(MOTO_AMIS_PATH). What it does not model: AMI tags set at registration by anyone but the
test, launch permissions shared across accounts, and the instance Packer launches (it
never boots; the test stops Packer once the source AMI is chosen)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from golden.bake import build, frombase
from golden.bake import compat as packer_compat
from golden.bake.frombase import aws_base_variables, local_base_images, newest_tested_base
from golden.bake.request import RDS_CA_BUNDLE_URL, BakeRequest, Paths, check_request
from golden.core.errors import ConfigError, PreflightError

from .conftest import PACKER_DIR

FIXED_NOW = datetime(2026, 1, 31, 12, 0, 0, tzinfo=timezone.utc)
DOCKER = shutil.which("docker") or "docker"
ACCOUNT = "123456789012"  # moto's account: what owner "self" means there
CANONICAL = "099720109477"




def _run(repo: Path, request: BakeRequest) -> dict:
    return build.bake(request, repo=repo, progress_out=io.StringIO(), now=lambda: FIXED_NOW)


def _labels(**values: str) -> dict:
    return {"Config": {"Labels": {f"golden:{k.replace('_', '-')}": v for k, v in values.items()}}}


# ------------------------------------------------------------------ the template


def test_source_ami_filters_is_a_typed_described_map_added_to_the_filters(template):
    variables = {name: body for entry in template["variable"] for name, body in entry.items()}
    extra = variables["source_ami_filters"]
    assert extra["type"] == "${map(string)}"
    assert extra["default"] == {}
    assert "golden bake --from-base" in extra["description"]
    text = (PACKER_DIR / "golden.pkr.hcl").read_text()
    assert "}, var.source_ami_filters)" in text


def test_twin_images_start_untested_whatever_their_base_image_says(template):
    merged = {}
    for entry in template["locals"]:
        merged.update(entry)
    assert '"golden:tested" = "false"' in merged["twin_labels"]
    twin = next(e["docker"]["twin"] for e in template["source"] if "docker" in e)
    assert "local.twin_labels" in twin["changes"]


# ------------------------------------------------------------------ pure decisions


def test_the_newest_tested_base_wins_and_untested_or_other_roles_never_do():
    old = {
        "Id": "sha256:old",
        "Created": "2026-01-02",
        **_labels(role="base", tested="true", build_time="2026-01-01T00:00:00Z"),
    }
    new = {
        "Id": "sha256:new",
        "Created": "2026-01-01",
        **_labels(role="base", tested="true", build_time="2026-01-03T00:00:00Z"),
    }
    untested = {
        "Id": "sha256:untested",
        **_labels(role="base", tested="false", build_time="2026-02-01T00:00:00Z"),
    }
    app = {"Id": "sha256:app", **_labels(role="app", tested="true",
                                         build_time="2026-02-01T00:00:00Z")}  # fmt: skip
    assert newest_tested_base([old, new, untested, app])["Id"] == "sha256:new"
    assert newest_tested_base([old, untested])["Id"] == "sha256:old"
    assert newest_tested_base([untested, app]) is None
    assert newest_tested_base([]) is None


def test_aws_base_source_is_this_accounts_tested_base_amis():
    variables = aws_base_variables()
    assert variables["source_ami_owners"] == '["self"]'
    assert variables["source_ami_name_pattern"] == "golden-base-*"
    assert variables["source_ami_filters"] == (
        '{"tag:golden:role" = "base", "tag:golden:tested" = "true"}'
    )


def test_from_base_refuses_what_it_cannot_mean(repo):
    paths = Paths.for_repo(repo)
    with pytest.raises(ConfigError, match="--from-base: the base role starts from the OS image"):
        check_request(BakeRequest(role="base", target="local", from_base=True), paths)
    clash = BakeRequest(role="app", target="local", from_base=True,
                        variables={"twin_base_image": "x"})  # fmt: skip
    with pytest.raises(ConfigError, match="--var twin_base_image: --from-base sets it"):
        check_request(clash, paths)
    clash = BakeRequest(role="chroma", target="aws", from_base=True,
                        variables={"source_ami_owners": '["self"]'})  # fmt: skip
    with pytest.raises(ConfigError, match="--var source_ami_owners: --from-base sets it"):
        check_request(clash, paths)


# ------------------------------------------------------------------ CA bundle


def test_ca_bundle_defaults_per_target_and_role(repo, certificate):
    paths = Paths.for_repo(repo)

    def chosen(role, target, **kwargs):
        return check_request(BakeRequest(role=role, target=target, **kwargs),
                             paths).ca_bundle  # fmt: skip

    assert chosen("app", "aws") == repo / "build" / "certs" / "rds-ca-bundle.pem"
    assert chosen("chroma", "local") is None
    local_ca = repo / ".state" / "local" / "tls" / "ca.pem"
    local_ca.parent.mkdir(parents=True)
    local_ca.write_text(certificate)
    assert chosen("chroma", "local") == local_ca
    assert chosen("base", "local") is None and chosen("base", "aws") is None
    given = repo / "given.pem"
    given.write_text(certificate)
    assert chosen("base", "aws", ca_bundle=given) == given


def test_a_ca_bundle_that_is_not_pem_certificates_is_refused_naming_it(repo):
    paths = Paths.for_repo(repo)
    key = repo / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match=rf"--ca-bundle {key}: block 1 is a PRIVATE KEY"):
        check_request(BakeRequest(role="app", target="aws", ca_bundle=key), paths)
    with pytest.raises(ConfigError, match="--ca-bundle .*absent.pem: no such file"):
        check_request(BakeRequest(role="app", target="aws",
                                  ca_bundle=repo / "absent.pem"), paths)  # fmt: skip


def test_aws_bake_without_the_rds_bundle_stops_naming_the_file_and_where_aws_publishes_it(
    real_packer, repo
):
    request = BakeRequest(role="app", target="aws",
                          variables={"ec2_endpoint": "http://127.0.0.1:9"})  # fmt: skip
    with pytest.raises(PreflightError) as failed:
        _run(repo, request)
    message = str(failed.value)
    expected = repo / "build" / "certs" / "rds-ca-bundle.pem"
    assert f"{expected}: the RDS CA bundle is missing" in message
    assert RDS_CA_BUNDLE_URL in message and "--ca-bundle" in message
    assert not (repo / "build" / "bakes").exists()


def test_aws_dry_run_stages_the_bundle_and_the_base_filter_passes_packer_validate(
    real_packer, repo, certificate
):
    bundle = repo / "build" / "certs" / "rds-ca-bundle.pem"
    bundle.parent.mkdir(parents=True)
    bundle.write_text(certificate)
    request = BakeRequest(role="app", target="aws", from_base=True, dry_run=True,
                          variables={"ec2_endpoint": "http://127.0.0.1:9"})  # fmt: skip
    record = _run(repo, request)
    assert record["status"] == "dry-run"
    assert record["staging"]["certs/rds-ca-bundle.pem"] == str(bundle)
    for key, value in aws_base_variables().items():
        assert record["variables"][key] == value
    assert "golden-base-*" in record["base"]["source_ami_filter"]


# ------------------------------------------------------------------ local base images


def _import_empty(labels: dict[str, str]) -> str:
    tar = subprocess.run(["tar", "-c", "-f", "-", "--files-from", "/dev/null"],
                         capture_output=True, check=True).stdout  # fmt: skip
    argv = [DOCKER, "import", "-c", 'CMD ["/sbin/init"]']
    for key, value in labels.items():
        argv += ["-c", f'LABEL "{key}"="{value}"']
    ref = f"golden-bake-test/fake-base-{uuid.uuid4().hex[:8]}:0.1.0"
    proc = subprocess.run([*argv, "-", ref], input=tar, capture_output=True, check=True)
    return proc.stdout.decode().strip()


@pytest.fixture
def fake_bases(empty_image):
    """Labelled empty images standing in for baked base images: tested ones built in the
    far future (newer than any real one here), an untested newer still."""
    made = {
        "older": _import_empty({"golden:role": "base", "golden:tested": "true",
                                "golden:build-time": "2999-01-01T00:00:00Z"}),
        "newest": _import_empty({"golden:role": "base", "golden:tested": "true",
                                 "golden:build-time": "2999-01-02T00:00:00Z",
                                 "golden:version": "9.9.9"}),
        "untested": _import_empty({"golden:role": "base", "golden:tested": "false",
                                   "golden:build-time": "2999-01-03T00:00:00Z"}),
    }  # fmt: skip
    yield made
    subprocess.run([DOCKER, "rmi", "-f", *made.values()], capture_output=True)


def test_local_from_base_starts_from_the_newest_tested_base_image(real_packer, repo, fake_bases):
    found = {image["Id"] for image in local_base_images()}
    assert {fake_bases["older"], fake_bases["newest"]} <= found
    assert fake_bases["untested"] not in found
    request = BakeRequest(role="app", target="local", from_base=True, dry_run=True)
    record = _run(repo, request)
    assert record["variables"]["twin_base_image"] == fake_bases["newest"]
    assert record["base"]["image"] == fake_bases["newest"]
    assert record["base"]["version"] == "9.9.9"


def test_local_from_base_without_a_tested_base_names_the_filter(fake_packer_bin, repo, monkeypatch):
    # The docker query itself is exercised above; here no image matches it.
    monkeypatch.setattr(frombase, "local_base_images", lambda: [])
    with pytest.raises(PreflightError) as failed:
        _run(repo, BakeRequest(role="app", target="local", from_base=True))
    message = str(failed.value)
    assert "labelled golden:role=base and golden:tested=true" in message
    assert "golden bake --role base --target local" in message
    assert not (repo / "build" / "bakes").exists()


# ------------------------------------------------------------------ real Packer, emulated EC2


def _ami(ami_id: str, name: str, owner: str, created: str, tags: dict[str, str]) -> dict:
    return {"ami_id": ami_id, "name": name, "owner_id": owner, "public": owner == CANONICAL,
            "architecture": "x86_64", "virtualization_type": "hvm", "root_device_type": "ebs",
            "root_device_name": "/dev/sda1", "state": "available", "creation_date": created,
            "tags": tags}  # fmt: skip


@pytest.fixture
def ec2_emulator(tmp_path):
    """moto_server on 127.0.0.1 whose AMIs are: this account's tested base, a newer
    untested base, a newer tested base of another account, and Canonical's jammy."""
    base = {"golden:role": "base"}
    amis = [
        _ami("ami-0000000000000ba5e", "golden-base-0.1.0-20260101000000", ACCOUNT,
             "2026-01-01T00:00:00.000Z", {**base, "golden:tested": "true"}),
        _ami("ami-000000000000000b2", "golden-base-0.1.0-20260102000000", ACCOUNT,
             "2026-01-02T00:00:00.000Z", base),
        _ami("ami-000000000000000c3", "golden-base-0.1.0-20260103000000", "111122223333",
             "2026-01-03T00:00:00.000Z", {**base, "golden:tested": "true"}),
        _ami("ami-00000000000000ca1", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-1",
             CANONICAL, "2026-01-04T00:00:00.000Z", {}),
    ]  # fmt: skip
    (tmp_path / "amis.json").write_text(json.dumps(amis))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "MOTO_AMIS_PATH": str(tmp_path / "amis.json")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert time.monotonic() < deadline and server.poll() is None, "moto_server did not start"
        time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)


def _packer_source_ami(packer: str, template: Path, variables: dict[str, str]) -> str:
    """Run the amazon-ebs source until Packer has chosen its source AMI; return what it
    said about it (stopping it there with Ctrl-C, as a user would)."""
    args = [f"-var={k}={v}" for k, v in sorted(variables.items())]
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           # Anything but the emulator would go to a dead proxy instead of the internet.
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "NO_PROXY": "127.0.0.1,localhost"}  # fmt: skip
    proc = subprocess.Popen(
        [packer, "build", "-machine-readable", "-only=golden.amazon-ebs.ubuntu",
         "-var-file=examples/aws.pkrvars.hcl", *args, str(template)],
        cwd=PACKER_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    said = ""
    deadline = time.monotonic() + 120
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Found Image ID" in line or "No AMI was found" in line:
                said = line.replace("%!(PACKER_COMMA)", ",")
                break
            assert time.monotonic() < deadline, "Packer did not choose a source AMI in 120 s"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    return said


def test_packer_starts_from_this_accounts_newest_tested_base_ami(
    real_packer, tmp_path, ec2_emulator
):
    template = tmp_path / "compat"
    packer_compat.render_dir(PACKER_DIR, template)
    variables = {
        **aws_base_variables(),
        "aws_region": "us-east-1",
        "ami_regions": "[]",
        "ec2_endpoint": ec2_emulator,
        # No temporary instance profile (IAM is not emulated here) and no SSM session.
        "iam_instance_profile": "golden-test",
        "ssh_interface": "",
        "ssh_host": "127.0.0.1",
        "ssh_port": "9",
    }
    said = _packer_source_ami(real_packer, template, variables)
    assert "Found Image ID: ami-0000000000000ba5e" in said, said

    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=ec2_emulator)
    ec2.delete_tags(Resources=["ami-0000000000000ba5e"], Tags=[{"Key": "golden:tested"}])
    said = _packer_source_ami(real_packer, template, variables)
    assert "No AMI was found matching filters" in said, said
    assert "tag:golden:tested" in said and "golden-base-*" in said


def test_the_one_stage_bake_still_starts_from_canonical_jammy(real_packer, tmp_path, ec2_emulator):
    template = tmp_path / "compat"
    packer_compat.render_dir(PACKER_DIR, template)
    variables = {"aws_region": "us-east-1", "ami_regions": "[]", "ec2_endpoint": ec2_emulator,
                 "iam_instance_profile": "golden-test", "ssh_interface": "",
                 "ssh_host": "127.0.0.1", "ssh_port": "9"}  # fmt: skip
    said = _packer_source_ami(real_packer, template, variables)
    assert "Found Image ID: ami-00000000000000ca1" in said, said
