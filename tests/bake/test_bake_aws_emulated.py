"""The AWS bake path offline: Packer 1.6.6's real amazon-ebs source against the AWS emulator
on 127.0.0.1 (custom EC2 endpoint), its SSH communicator pointed at a local systemd
container standing in for the build instance (`golden local ami`, scripts/golden/
bake_standin.py). The overrides live only in the var file the stand-in writes; the same
provisioners, Salt states and in-image tests run inside the container. The assertions read
what Packer asked AWS for from the emulator's request log and what the emulator holds.

What the emulation does not model (see also autoscaling/emulator/__init__.py):
- The "instance" is a record: RunInstances starts nothing, the container is started by the
  stand-in beforehand; StopInstances does nothing to the container, and CreateImage does
  not snapshot it (the AMI and its snapshot are records; no disk is captured or booted).
- Encryption: the launch mapping's Encrypted/KmsKeyId and CopyImage's Encrypted are
  accepted and recorded, but moto reports the copy's snapshot as unencrypted and every
  image root as a 15 GiB standard volume; ModifyImageAttribute's description is dropped.
  So encryption is asserted on what Packer sent, not on what the emulator stores.
- IMDS: the compat rendering for Packer 1.6.6 has no metadata_options/imds_support, and
  the emulator would not enforce them anyway; the stand-in has no metadata service.
- IAM: Packer's temporary role and instance profile are created and deleted in the
  emulator, nothing enforces them; any credentials are accepted.
- The stand-in runs the twin platform (Debian 12, the twin pillar), not Ubuntu 22.04 with
  the aws pillar: sysctls and the CloudWatch agent are rendered, not applied/installed.
- Security groups are not enforced (the temporary group admits 127.0.0.1/32 on the
  published port; Docker's port publishing is what really lets Packer in).

GOLDEN_TEST_STANDIN_PREFIX and GOLDEN_TEST_PORT_RANGE (e.g. 15500-15599) keep the
containers, networks and 127.0.0.1 ports of these tests apart on a shared machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config
from click.testing import CliRunner
from golden.bake import standin as bake_standin
from golden.bake.record import PROVENANCE_TAG_KEYS
from golden.bake.request import WRAPPER_VARS
from golden.cli import main
from golden.core import containers
from golden.core import tags as T
from golden.core.errors import ConfigError, OperationFailed

from autoscaling import images
from autoscaling.emulator import canonical_images
from autoscaling.emulator.seed import register_ami, seed_network
from autoscaling.settings import ENV_DIR, load

from .conftest import REPO, _git, load_hcl

PREFIX = os.environ.get("GOLDEN_TEST_STANDIN_PREFIX", "golden-test-standin")
FAST_POLL = ["--poll-min-seconds", "0.001", "--poll-max-seconds", "0.002"]
JAMMY_AMD64 = canonical_images.image_name("amd64", max(canonical_images.SERIALS))


def _ssh_port() -> int | None:
    """A free 127.0.0.1 port from GOLDEN_TEST_PORT_RANGE, else None (Docker picks)."""
    spec = os.environ.get("GOLDEN_TEST_PORT_RANGE")
    if not spec:
        return None
    low, high = (int(part) for part in spec.split("-"))
    for port in range(low, high + 1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free 127.0.0.1 port in {spec}")


@pytest.fixture(autouse=True)
def _aws_env(aws_env):
    """Every test here talks to the emulator only (tests/conftest.py aws_env)."""


def _client(emulator, service: str):
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=emulator.url,
        config=Config(retries={"max_attempts": 1}),
    )


def _calls(emulator, action: str) -> list[dict]:
    return [r for r in emulator.requests() if r["action"] == action]


def _tags(params: dict) -> dict[str, str]:
    """Tag.N.Key/Tag.N.Value (CreateTags) as a dict."""
    return {
        value: params[key[: -len("Key")] + "Value"]
        for key, value in params.items()
        if key.startswith("Tag.") and key.endswith(".Key")
    }


def _resources(params: dict) -> set[str]:
    return {v for k, v in params.items() if k.startswith("ResourceId.")}


def _no_standin_left(token_prefix: str) -> None:
    assert bake_standin.leftovers(token_prefix) == {"container": [], "network": []}


# ---------------------------------------------------------------- pure parts, no Packer


def test_var_file_sets_only_template_variables_and_points_ssh_at_the_standin(template, tmp_path):
    variables = bake_standin.standin_variables(
        endpoint="http://127.0.0.1:5050",
        region="us-east-1",
        ssh_port=15522,
        keypair="golden-ami-standin-0a1b2c3d",
        key_file=tmp_path / "id_ed25519",
    )
    parsed = load_hcl(bake_standin.render_var_file(variables))
    declared = {name for entry in template["variable"] for name in entry}
    assert set(parsed) <= declared
    assert parsed == {k: v for k, v in variables.items()}
    assert parsed["provision_platform"] == "twin"
    assert parsed["ssh_host"] == "127.0.0.1" and parsed["ssh_username"] == "root"
    assert parsed["ec2_endpoint"] == "http://127.0.0.1:5050"
    # Wrapper-owned variables (provenance, staging) are never set by the stand-in.
    assert not set(parsed) & set(WRAPPER_VARS)


def test_var_file_strings_cannot_start_a_packer_template_expression():
    text = bake_standin.render_var_file({"ssh_private_key_file": '/tmp/a"b/${var.x}%{if}'})
    assert text.splitlines()[-1].endswith('"/tmp/a\\"b/$${var.x}%%{if}"')


def test_standin_is_published_on_loopback_only_on_its_own_network():
    argv = bake_standin.docker_run_argv(bake_standin.names("p", "t0"), "img", None, "t0")
    assert argv[argv.index("-p") + 1] == "127.0.0.1::22"
    assert argv[argv.index("--network") + 1] == "p-t0"
    assert "--privileged" not in argv and "host" not in argv
    flags = argv[argv.index("-p") + 2 : argv.index("img")]
    assert tuple(flags) == containers.SYSTEMD_RUN_FLAGS
    fixed = bake_standin.docker_run_argv(bake_standin.names("p", "t0"), "img", 15522, "t0")
    assert fixed[fixed.index("-p") + 1] == "127.0.0.1:15522:22"


def test_offline_environment_never_hands_real_credentials_or_routes_off_the_machine():
    env = bake_standin.offline_environment(
        {
            "PATH": "/usr/bin",
            "AWS_PROFILE": "prod",
            "AWS_ACCESS_KEY_ID": "AKIAREAL",
            "AWS_SECRET_ACCESS_KEY": "real",
            "AWS_SESSION_TOKEN": "real",
            "AWS_ENDPOINT_URL": "https://ec2.amazonaws.com",
            "https_proxy": "http://corp-proxy:3128",
        }
    )
    assert env["PATH"] == "/usr/bin"
    assert env["AWS_ACCESS_KEY_ID"] == "golden-emulator"
    assert not {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"} & set(env)
    assert "real" not in env.values() and "AKIAREAL" not in env.values()
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        assert env[name].startswith("http://127.0.0.1:")
    assert set(env["NO_PROXY"].split(",")) == {"127.0.0.1", "localhost", "::1"}
    assert env["AWS_EC2_METADATA_DISABLED"] == "true" and env["CHECKPOINT_DISABLE"] == "1"


def test_throwaway_ca_is_a_bundle_the_bake_accepts(tmp_path):
    from golden.bake import staging

    pem = bake_standin.throwaway_ca(tmp_path)
    assert staging.ca_bundle_problem(pem) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [pem.name], "no private key kept"


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://ec2.us-east-1.amazonaws.com",
        "http://10.0.0.5:5000",
        "http://127.0.0.1.nip.io:5000",
        "ftp://127.0.0.1:5000",
        "",
    ],
)
def test_non_loopback_endpoint_is_refused_before_anything_is_made(endpoint, tmp_path):
    def must_not_bake(*_args, **_kwargs):
        raise AssertionError("bake must not run")

    spec = bake_standin.StandinSpec(role="app", endpoint=endpoint, name_prefix=PREFIX)
    with pytest.raises(ConfigError, match="--endpoint"):
        bake_standin.run_bake(spec, repo=tmp_path, bake_fn=must_not_bake)
    _no_standin_left(f"{PREFIX}-{spec.token}")


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:5050", "http://localhost:5050/", "http://[::1]:5050"]
)
def test_loopback_endpoints_are_accepted(endpoint):
    assert bake_standin.check_endpoint(endpoint) == endpoint.rstrip("/")


def test_cli_refuses_a_real_endpoint_with_a_usage_error():
    result = CliRunner().invoke(
        main, ["local", "ami", "--role", "app", "--endpoint", "https://ec2.amazonaws.com"]
    )
    assert result.exit_code == 2
    assert "not a loopback address" in result.stderr and "golden bake --target aws" in result.stderr


def test_cli_says_to_start_the_emulator_when_nothing_listens():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    result = CliRunner().invoke(
        main, ["local", "ami", "--role", "app", "--endpoint", f"http://127.0.0.1:{closed}"]
    )
    assert result.exit_code == 3
    assert "make emulator" in result.stderr and f"127.0.0.1:{closed}" in result.stderr


def test_local_ami_has_help_with_dry_run_and_json():
    result = CliRunner().invoke(main, ["local", "ami", "--help"])
    assert result.exit_code == 0
    for option in ("--role", "--endpoint", "--dry-run", "--json", "127.0.0.1:5050"):
        assert option in result.stdout


# ---------------------------------------------------------------- Packer + stand-in


FAILING_PROVISION = "#!/bin/bash\necho 'stand-in provision: failing on purpose' >&2\nexit 3\n"
SLOW_PROVISION = "#!/bin/bash\necho 'stand-in provision: sleeping'\nsleep 300\n"


def _stub_repo(repo: Path, provision: str) -> Path:
    (repo / "scripts" / "provision.sh").write_text(provision)
    _git(repo, "commit", "-qam", "provision stand-in")
    return repo


def _assert_emulator_cleaned_up(emulator, keep_ami: str | None = None) -> None:
    """Packer's temporary resources and the stand-in's key pair are gone, the instance is
    terminated, and no AMI but ``keep_ami`` is registered."""
    ec2 = _client(emulator, "ec2")
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    groups = ec2.describe_security_groups()["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == ["default"]
    states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
              for i in r["Instances"]]  # fmt: skip
    assert states == ["terminated"]
    registered = [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]]
    assert registered == ([keep_ami] if keep_ami else [])
    iam = _client(emulator, "iam")
    assert iam.list_roles()["Roles"] == []
    assert iam.list_instance_profiles()["InstanceProfiles"] == []


@pytest.mark.twin
def test_failed_bake_leaves_no_container_network_key_pair_or_instance(emulator, repo, twin_inputs):
    _stub_repo(repo, FAILING_PROVISION)
    emulator.reset()
    spec = bake_standin.StandinSpec(
        role="app", endpoint=emulator.url, name_prefix=PREFIX, ssh_port=_ssh_port()
    )
    with pytest.raises(OperationFailed, match="packer build failed"):
        bake_standin.run_bake(spec, repo=repo)
    _no_standin_left(f"{PREFIX}-{spec.token}")
    assert [r["params"]["KeyName"] for r in _calls(emulator, "DeleteKeyPair")] == [
        f"{PREFIX}-{spec.token}"
    ]
    assert _calls(emulator, "RunInstances"), "the failure came from provisioning, after launch"
    _assert_emulator_cleaned_up(emulator)
    (record,) = [json.loads(p.read_text()) for p in (repo / "build" / "bakes").glob("*.json")]
    assert record["status"] == "failed" and record["tested"] is False


@pytest.mark.twin
def test_interrupt_during_provisioning_cleans_up_packer_and_the_standin(
    emulator, repo, twin_inputs
):
    _stub_repo(repo, SLOW_PROVISION)
    emulator.reset()
    argv = [sys.executable, "-m", "golden.cli", "local", "ami", "--role", "app",
            "--endpoint", emulator.url, "--name-prefix", PREFIX]  # fmt: skip
    port = _ssh_port()
    if port:
        argv += ["--ssh-port", str(port)]
    env = {**os.environ, "GOLDEN_REPO_ROOT": str(repo), "CHECKPOINT_DISABLE": "1"}
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not any("sleeping" in line for line in _packer_log_lines(repo)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "provisioning never started"
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupt" in err
    _no_standin_left(PREFIX)
    assert len(_calls(emulator, "DeleteKeyPair")) == 1
    _assert_emulator_cleaned_up(emulator)


def _packer_log_lines(repo: Path) -> list[str]:
    lines: list[str] = []
    for log in (repo / "build" / "bakes").glob("*/packer.log"):
        lines += log.read_text(errors="replace").splitlines()
    return lines


@pytest.mark.twin
@pytest.mark.slow
def test_emulated_aws_bake_of_this_repository_yields_a_tagged_tested_releasable_ami(
    emulator, tmp_path, twin_inputs
):
    """The real thing: this checkout's provision.sh, full highstate and image tests run in
    the stand-in through Packer's amazon-ebs source (about 3 minutes)."""
    emulator.reset()
    spec = bake_standin.StandinSpec(
        role="app", endpoint=emulator.url, name_prefix=PREFIX, ssh_port=_ssh_port()
    )
    result = bake_standin.run_bake(spec, repo=REPO)
    assert result["status"] == "succeeded" and result["tested"] is True
    assert result["tests"]["failed"] == 0 and result["tests"]["passed"] > 0
    (ami,) = result["amis"].values()
    assert list(result["amis"]) == ["us-east-1"]
    _no_standin_left(f"{PREFIX}-{spec.token}")
    ec2 = _client(emulator, "ec2")

    jammy = _assert_source_is_canonical_jammy(emulator, ec2)
    _assert_launch_is_an_encrypted_gp3_root_with_the_standin_key(
        emulator, jammy, f"{PREFIX}-{spec.token}"
    )
    _assert_encrypted_copy_replaces_the_intermediate_image(emulator, ec2, ami)
    _assert_provenance_tags_then_tested_after_packer_cleaned_up(emulator, ec2, ami, jammy)
    _assert_packer_stopped_terminated_and_removed_its_resources(emulator, ami)
    _assert_one_tested_app_ami(ec2, ami)
    _release_accepts(emulator, tmp_path, ami)


def _assert_source_is_canonical_jammy(emulator, ec2) -> str:
    """The source image: the template's default filter found Canonical's newest jammy.
    Returns its id."""
    (lookup,) = [r for r in _calls(emulator, "DescribeImages") if "Owner.1" in r["params"]]
    assert lookup["params"]["Owner.1"] == "099720109477"
    return ec2.describe_images(
        Filters=[{"Name": "name", "Values": [JAMMY_AMD64]}], Owners=["099720109477"]
    )["Images"][0]["ImageId"]


def _assert_launch_is_an_encrypted_gp3_root_with_the_standin_key(
    emulator, jammy: str, keypair: str
) -> None:
    """RunInstances: the stand-in's key pair and an encrypted gp3 root with iops/throughput."""
    (launch,) = _calls(emulator, "RunInstances")
    params = launch["params"]
    assert params["ImageId"] == jammy and params["KeyName"] == keypair
    (index,) = [
        k.split(".")[1] for k, v in params.items()
        if k.startswith("BlockDeviceMapping.") and k.endswith(".DeviceName") and v == "/dev/sda1"
    ]  # fmt: skip
    ebs = {k.split(".Ebs.")[1]: v for k, v in params.items()
           if k.startswith(f"BlockDeviceMapping.{index}.Ebs.")}  # fmt: skip
    assert ebs["VolumeType"] == "gp3" and ebs["Encrypted"] == "true"
    assert ebs["Iops"] == "3000" and ebs["Throughput"] == "125"
    assert ebs["DeleteOnTermination"] == "true"


def _assert_encrypted_copy_replaces_the_intermediate_image(emulator, ec2, ami: str) -> None:
    """encrypt_boot: an encrypted copy of the intermediate image, which is then removed."""
    (copy,) = _calls(emulator, "CopyImage")
    assert copy["params"]["Encrypted"] == "true"
    intermediate = copy["params"]["SourceImageId"]
    assert intermediate != ami
    assert [r["params"]["ImageId"] for r in _calls(emulator, "DeregisterImage")] == [intermediate]
    assert images.describe_image(ec2, intermediate) is None


def _assert_provenance_tags_then_tested_after_packer_cleaned_up(
    emulator, ec2, ami: str, jammy: str
) -> None:
    """Provenance tags from the template on the AMI and on its snapshot; golden:tested only
    from the wrapper, after Packer finished (and cleaned up), on the AMI and its snapshots
    (so `golden prune` can tell a tested image's snapshot from an orphan)."""
    (image,) = ec2.describe_images(ImageIds=[ami])["Images"]
    snapshots = {m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m}
    packer_keys = set(PROVENANCE_TAG_KEYS)
    tagged_ami = tagged_snapshots = False
    for call in _calls(emulator, "CreateTags"):
        keys, resources = set(_tags(call["params"])), _resources(call["params"])
        if T.TESTED in keys:
            assert resources == {ami} | snapshots and keys == {T.TESTED}
            continue
        assert packer_keys <= keys, f"provenance missing: {packer_keys - keys}"
        tagged_ami |= ami in resources
        tagged_snapshots |= snapshots <= resources
    assert tagged_ami and tagged_snapshots
    for snapshot in ec2.describe_snapshots(SnapshotIds=sorted(snapshots))["Snapshots"]:
        assert packer_keys <= {t["Key"] for t in snapshot.get("Tags", [])}
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert tags[T.ROLE] == "app" and tags[T.TESTED] == "true"
    assert tags[T.SOURCE_AMI] == jammy and tags[T.SOURCE_AMI_NAME] == JAMMY_AMD64
    assert tags[T.PACKER_VERSION] == "1.6.6"
    assert tags[T.GIT_REVISION].startswith(_git(REPO, "rev-parse", "HEAD"))
    mutating = [r for r in emulator.requests() if r["mutating"]]
    actions = [r["action"] for r in mutating]
    (tested_at,) = [i for i, r in enumerate(mutating)
                    if r["action"] == "CreateTags" and T.TESTED in _tags(r["params"])]  # fmt: skip
    assert tested_at > actions.index("TerminateInstances")
    assert tested_at > actions.index("DeleteSecurityGroup")


def _assert_packer_stopped_terminated_and_removed_its_resources(emulator, ami: str) -> None:
    """Packer's temporary resources and the stand-in's key pair are gone; the instance was
    stopped before the image was made and is terminated now."""
    actions = [r["action"] for r in emulator.requests() if r["mutating"]]
    (stop,) = _calls(emulator, "StopInstances")
    instance = stop["params"]["InstanceId.1"]
    assert actions.index("StopInstances") < actions.index("CreateImage")
    assert [r["params"]["InstanceId.1"] for r in _calls(emulator, "TerminateInstances")] == [
        instance
    ]
    (ingress,) = _calls(emulator, "AuthorizeSecurityGroupIngress")
    deleted = [r["params"]["GroupId"] for r in _calls(emulator, "DeleteSecurityGroup")]
    assert deleted == [ingress["params"]["GroupId"]]
    _assert_emulator_cleaned_up(emulator, keep_ami=ami)


def _assert_one_tested_app_ami(ec2, ami: str) -> None:
    """Exactly one tested app AMI: the baked one."""
    tested = ec2.describe_images(
        Owners=["self"],
        Filters=[{"Name": f"tag:{T.TESTED}", "Values": ["true"]},
                 {"Name": f"tag:{T.ROLE}", "Values": ["app"]}],
    )["Images"]  # fmt: skip
    assert [i["ImageId"] for i in tested] == [ami]


def _release_accepts(emulator, tmp_path: Path, ami: str) -> None:
    """env apply (on an older tested AMI) and then release the baked one, as
    tests/release does: environment local's settings pointed at this emulator."""
    data = yaml.safe_load((ENV_DIR / "local.yaml").read_text())
    data["aws"]["endpoint_url"] = emulator.url
    data["instance"]["aws_endpoint_url"] = emulator.url
    settings = tmp_path / "local.yaml"
    env = load(_write(settings, data))
    from autoscaling.aws import Clients

    clients = Clients.for_env(env)
    seed_network(env, clients)
    older = register_ami(
        clients.ec2, "app", "0.0.9", build_time=datetime.now(timezone.utc) - timedelta(days=1)
    )
    data["roles"]["app"]["initial_ami"] = older
    _write(settings, data)
    runner = CliRunner()
    applied = runner.invoke(main, ["env", "apply", str(settings), "--yes", "--role", "app"])
    assert applied.exit_code == 0, applied.stderr
    released = runner.invoke(
        main, ["release", str(settings), "--role", "app", "--ami", ami, *FAST_POLL, "--json"]
    )
    assert released.exit_code == 0, released.stderr
    out = json.loads(released.stdout)
    assert out["status"] == "Successful" and out["ami"] == ami
    group = _client(emulator, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[env.role("app").group]
    )["AutoScalingGroups"][0]
    ids = [i["InstanceId"] for i in group["Instances"]]
    running = _client(emulator, "ec2").describe_instances(InstanceIds=ids)["Reservations"]
    assert {i["ImageId"] for r in running for i in r["Instances"]} == {ami}


def _write(path: Path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)
