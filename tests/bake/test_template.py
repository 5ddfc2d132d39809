"""Static promises of packer/: parsed with python-hcl2, no Packer needed (except fmt)."""

from __future__ import annotations

import re
import subprocess

import pytest
from golden.bake.record import PROVENANCE_TAG_KEYS, TAG_TESTED

from .conftest import PACKER_DIR, load_hcl


def _source(template: dict, kind: str, name: str) -> dict:
    for entry in template["source"]:
        if kind in entry and name in entry[kind]:
            return entry[kind][name]
    raise AssertionError(f"source {kind}.{name} not found")


def _variables(template: dict) -> dict:
    return {name: body for entry in template["variable"] for name, body in entry.items()}


def _locals(template: dict) -> dict:
    merged: dict = {}
    for entry in template["locals"]:
        merged.update(entry)
    return merged


def _build(template: dict) -> dict:
    (build,) = template["build"]
    return build


def _one(value):
    """python-hcl2 gives a block as a list of bodies."""
    return value[0] if isinstance(value, list) else value


def test_root_volume_and_ami_are_encrypted_gp3(template):
    ebs = _source(template, "amazon-ebs", "ubuntu")
    mappings = ebs["launch_block_device_mappings"]
    (root,) = [m for m in mappings if m["device_name"] == "/dev/sda1"]
    assert root["encrypted"] is True
    assert root["volume_type"] == "gp3"
    assert root["kms_key_id"] == "${var.kms_key_id}"
    assert "iops" in root and "throughput" in root
    assert ebs["encrypt_boot"] is True
    assert ebs["kms_key_id"] == "${var.kms_key_id}"


def test_imdsv2_is_required_at_build_and_on_the_ami(template):
    ebs = _source(template, "amazon-ebs", "ubuntu")
    metadata = _one(ebs["metadata_options"])
    assert metadata["http_tokens"] == "required"
    assert metadata.get("http_endpoint", "enabled") == "enabled"
    assert ebs["imds_support"] == "v2.0"


def test_plugins_are_pinned_for_current_packer(template):
    (packer_block,) = template["packer"]
    plugins = _one(packer_block["required_plugins"])
    for name in ("amazon", "docker"):
        assert plugins[name]["source"] == f"github.com/hashicorp/{name}"
        assert re.match(r"^(~>|=|>=)\s*\d+\.\d+", plugins[name]["version"])


def test_source_is_canonical_jammy_most_recent_with_selectable_arch(template):
    ebs = _source(template, "amazon-ebs", "ubuntu")
    ami_filter = _one(ebs["source_ami_filter"])
    assert ami_filter["most_recent"] is True
    assert ami_filter["owners"] == "${var.source_ami_owners}"
    assert _variables(template)["source_ami_owners"]["default"] == ["099720109477"]
    local = _locals(template)
    assert "ubuntu-jammy-22.04-${var.arch}-server-*" in local["source_ami_name"]
    # `golden bake --from-base` adds filters of its own (source_ami_filters) to these.
    assert ami_filter["filters"].startswith("${merge({name = local.source_ami_name, ")
    assert "architecture = local.aws_arch" in ami_filter["filters"]
    assert ami_filter["filters"].endswith("}, var.source_ami_filters)}")
    assert "arm64" in local["aws_arch"]
    arch_rule = _one(_variables(template)["arch"]["validation"])["condition"]
    assert "amd64" in arch_rule and "arm64" in arch_rule


def test_ami_names_are_unique_per_role_version_and_second(template):
    ebs = _source(template, "amazon-ebs", "ubuntu")
    local = _locals(template)
    assert ebs["ami_name"] == "${local.ami_name}"
    assert local["ami_name"] == "golden-${var.role}-${var.version}-${local.stamp}"
    assert "timestamp()" in local["build_time"] and "var.build_time" in local["build_time"]
    assert "hhmmss" in local["stamp"] and "local.build_time" in local["stamp"]
    assert ebs.get("force_deregister", False) is False


def test_ami_and_snapshots_carry_every_provenance_tag_but_not_tested(template):
    ebs = _source(template, "amazon-ebs", "ubuntu")
    local = _locals(template)
    assert ebs["tags"] == "${local.ami_tags}"
    assert ebs["snapshot_tags"] == "${local.ami_tags}"
    text = (PACKER_DIR / "golden.pkr.hcl").read_text()
    provenance = local["provenance"]
    ami_only = re.search(r"ami_tags = merge\(local.provenance, \{(.*?)\}\)", text, re.S).group(1)
    keys = set(provenance) | set(re.findall(r'"(golden:[a-z-]+)"', ami_only))
    assert keys == set(PROVENANCE_TAG_KEYS)
    # Never set to true here; the twin's "false" only stops a tested base image's label
    # from being inherited (tests/bake/test_from_base.py).
    assert f'"{TAG_TESTED}" = "true"' not in text
    assert text.count(f'"{TAG_TESTED}"') == 1
    assert '"{{ .SourceAMI }}"' in ami_only and '"{{ .SourceAMIName }}"' in ami_only
    assert provenance["golden:packer-version"] == "${var.packer_version}"
    assert provenance["golden:build-time"] == "${local.build_time}"


def test_no_credentials_in_template_or_example_vars():
    forbidden = re.compile(
        r"\b(access_key|secret_key|token|password|session_token|vault_aws_engine)\s*=|AKIA[0-9A-Z]{16}",
        re.I,
    )
    files = list(PACKER_DIR.glob("*.pkr.hcl")) + list(PACKER_DIR.glob("examples/*.pkrvars.hcl"))
    assert len(files) >= 4
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not forbidden.search(line), f"{path.name}:{number}: {line.strip()}"


def test_build_instance_profile_is_temporary_and_limited_to_ecr_pull(template):
    ebs = _source(template, "amazon-ebs", "ubuntu")
    dynamic = {name: body for entry in ebs["dynamic"] for name, body in entry.items()}
    document = _one(dynamic["temporary_iam_instance_profile_policy_document"]["content"])
    actions = {a for statement in document["Statement"] for a in statement["Action"]}
    assert actions == {
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    }
    assert not any("*" in action for action in actions)
    ssm = _one(_one(document["dynamic"])["Statement"])
    assert "session_manager" in ssm["for_each"]
    assert ebs["ssh_interface"] == "${var.ssh_interface}"
    assert ebs["communicator"] == "ssh"
    assert ebs["ssh_clear_authorized_keys"] is True


def test_twin_source_boots_systemd_from_the_local_base_without_pulling(template):
    twin = _source(template, "docker", "twin")
    assert twin["image"] == "${var.twin_base_image}"
    assert twin["pull"] is False and twin["commit"] is True
    assert twin["run_command"].endswith('["{{.Image}}", "/sbin/init"])}')
    flags = _locals(template)["twin_run_flags"]
    assert "--privileged" not in flags
    for flag in (
        "--tmpfs",
        "/run",
        "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--cgroupns=host",
        "SIGRTMIN+3",
    ):
        assert flag in flags
    changes = twin["changes"]
    for change in ('CMD [\\"/sbin/init\\"]', "ENV container=docker"):
        assert change in changes


def test_both_sources_run_the_same_provisioners_from_var_tmp(template):
    build = _build(template)
    assert build["sources"] == ["source.amazon-ebs.ubuntu", "source.docker.twin"]
    provisioners = [body for entry in build["provisioner"] for body in entry.values()]
    for body in provisioners:
        assert not {"only", "except", "override"} & set(body)
    kinds = [kind for entry in build["provisioner"] for kind in entry]
    assert kinds == ["shell", "file", "shell", "file", "file"]
    shells = [body for entry in build["provisioner"] for k, body in entry.items() if k == "shell"]
    assert all(body["remote_folder"] == "/var/tmp" for body in shells)
    upload, download, sbom = [body for entry in build["provisioner"]
                              for k, body in entry.items() if k == "file"]  # fmt: skip
    assert upload["source"] == "${var.staging_dir}/"
    # After provision.sh: the image's package record and SBOM go beside the build record.
    assert download == {"direction": "download", "source": "/etc/golden/packages.json",
                        "destination": "${var.packages_path}"}
    assert sbom == {"direction": "download", "source": "/etc/golden/sbom.cdx.json",
                    "destination": "${var.sbom_path}"}
    assert _locals(template)["remote_src"] == "/var/tmp/golden"
    command = shells[-1]["inline"][-1]
    assert command == (
        "$as_root bash ${local.remote_src}/provision.sh --role ${var.role} "
        '--platform ${var.provision_platform != "" ? var.provision_platform : '
        '(source.type == "docker" ? "twin" : "aws")} '
        "--src ${local.remote_src} --salt-install ${var.salt_install}"
    )
    assert "sudo -E" in shells[-1]["inline"][0]


def test_provision_platform_defaults_to_following_the_source_and_admits_only_known_ones(
    template,
):
    platform = _variables(template)["provision_platform"]
    assert platform["type"] == "string"
    assert platform["default"] == ""
    condition = _one(platform["validation"])["condition"]
    assert condition == '${contains(["", "twin", "aws"], var.provision_platform)}'


def test_manifest_records_role_version_and_revisions(template):
    (manifest,) = [
        body for entry in _build(template)["post-processor"] for k, body in entry.items()
        if k == "manifest"
    ]  # fmt: skip
    assert manifest["output"] == "${var.manifest_path}"
    for key in ("role", "version", "git_revision", "state_tree_revision", "app_images"):
        assert key in manifest["custom_data"]


def test_every_variable_is_typed_and_described(template):
    variables = _variables(template)
    assert len(variables) > 20
    for name, body in variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert len(body.get("description", "")) > 10, f"variable {name} has no description"


@pytest.mark.parametrize("folder", [PACKER_DIR, PACKER_DIR / "examples"])
def test_packer_fmt_leaves_the_files_unchanged(real_packer, folder):
    proc = subprocess.run(
        [real_packer, "fmt", "-check", "-diff", str(folder)],
        capture_output=True, text=True, env={"CHECKPOINT_DISABLE": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_example_var_files_parse_and_set_no_wrapper_owned_secret(template):
    for path in PACKER_DIR.glob("examples/*.pkrvars.hcl"):
        values = load_hcl(path.read_text())
        assert set(values) <= set(_variables(template)), path.name
