import json

import pytest

from .conftest import ROLE


def test_image_json_records_provenance(host):
    record = json.loads(host.file("/etc/golden/image.json").content_string)
    assert record["role"] == ROLE
    for key in ("git_revision", "state_tree_revision", "build_time", "salt_version"):
        assert record[key], key
    assert record["salt_version"].startswith("3008.")


# Only the app role runs the app's containers: deselected for the others (conftest), so a
# chroma or base build never counts it as passed.
@pytest.mark.app_role
def test_image_json_digests_match_running_images(host):
    record = json.loads(host.file("/etc/golden/image.json").content_string)
    running = set(host.check_output(
        "docker inspect -f '{{.Image}}' "
        "$(docker ps -q --filter label=com.docker.compose.project=app)"
    ).split())
    assert running
    assert running <= set(record["app_images"].values())


def test_the_image_carries_its_sbom(host):
    """Written by the bake after the highstate (golden instance sbom): CycloneDX 1.5 with
    the image's OS packages and Salt's Python environment."""
    doc = json.loads(host.file("/etc/golden/sbom.cdx.json").content_string)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.5"
    purls = [c.get("purl", "") for c in doc["components"]]
    assert any(p.startswith("pkg:deb/") for p in purls)
    assert any(p.startswith("pkg:pypi/salt@") for p in purls)


def test_cloudwatch_config_rendered_with_dimensions(host):
    conf = json.loads(host.file(
        "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json").content_string)
    dims = conf["metrics"]["append_dimensions"]
    assert set(dims) == {"AutoScalingGroupName", "ImageId", "InstanceId"}
    assert {"mem", "disk", "swap"} <= conf["metrics"]["metrics_collected"].keys()
    files = {f["file_path"] for f in conf["logs"]["logs_collected"]["files"]["collect_list"]}
    assert "/var/log/nginx/access.log" in files


def test_second_highstate_changes_nothing(host):
    result = host.run("/opt/salt/bin/salt-call --local --out=json state.highstate")
    assert result.rc == 0, result.stderr[-2000:]
    states = json.loads(result.stdout)["local"]
    changed = [sid for sid, state in states.items() if state.get("changes")]
    assert changed == [], changed
