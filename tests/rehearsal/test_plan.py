"""The rehearsal's pure decisions: settings, scenarios, image variants, the instance ↔
container mapping and how a request's outcome is classed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from golden.bench.workload import outcome_class
from golden.core.errors import ConfigError
from golden.rehearsal import images, instances, plan
from golden.rehearsal.traffic import failed_requests

from autoscaling import settings as settings_mod

LOCAL = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "autoscaling/environments/local.yaml").read_text()
)


def test_settings_are_the_local_environment_through_the_rehearsals_emulator(tmp_path):
    data = plan.environment_settings(LOCAL, emulator_port=18481, gateway_address="172.28.16.1",
                                     initial_ami="ami-0123456789abcdef0")  # fmt: skip
    path = tmp_path / "rehearsal.yaml"
    path.write_text(yaml.safe_dump(data))
    env = settings_mod.load(str(path))  # the schema and cross-checks accept it
    assert env.endpoint_url == "http://127.0.0.1:18481"
    assert env.roles == ["app"]
    doc = env.instance_document("app")
    # Instances reach the emulator at the twin network's gateway, the stand-ins by name.
    assert doc["aws"]["endpoint_url"] == "http://172.28.16.1:18481"
    assert doc["database"]["host"] == LOCAL["instance"]["database"]["host"]
    role = env.role("app")
    assert (role.refresh["min_healthy_percentage"], role.refresh["max_healthy_percentage"]) == (
        100, 150)  # fmt: skip
    assert role["alarms"] == [plan.ALARM_5XX] and role["initial_ami"] == "ami-0123456789abcdef0"


def test_gateway_is_the_subnets_first_address():
    assert plan.gateway("172.28.16.0/24") == "172.28.16.1"


@pytest.mark.parametrize(("value", "expected"), [
    ("a", ("a",)), ("e,b", ("a", "b", "e")), ("c, a ,c", ("a", "c"))])  # fmt: skip
def test_scenarios_run_in_order_with_a_first(value, expected):
    assert plan.parse_scenarios(value) == expected


@pytest.mark.parametrize("value", ["", "x", "a,z"])
def test_unknown_scenarios_are_refused_naming_the_flag(value):
    with pytest.raises(ConfigError, match="--scenarios"):
        plan.parse_scenarios(value)


def test_only_the_needed_images_are_made_and_v1_is_not_baked():
    variants = plan.variants_for(("a", "b"))
    assert [v.label for v in variants] == ["v1", "v2", "v3"]
    assert [v.baked for v in variants] == [False, True, True]
    assert variants[2].app_environment == {"APP_RELEASE": "v3", "APP_SIMULATE_FAULT": "unhealthy"}


@pytest.mark.parametrize("keys", [("a",), ("a", "b"), ("a", "c"), ("a", "b", "c", "d", "e")])
def test_each_baked_image_starts_from_the_one_before_it_made_first(keys):
    variants = plan.variants_for(keys)
    labels = [v.label for v in variants]
    for variant in variants[1:]:
        source = "v2" if variant.fault else "v1"
        assert variant.starts_from == source and labels.index(source) < labels.index(variant.label)
        assert variant.origin == f"baked on {source}'s image"
    assert variants[0].origin == "the twin image" and variants[0].starts_from is None


def test_a_scenario_listing_an_image_before_its_source_is_refused(monkeypatch):
    broken = plan.Scenario("b", "bad image first", (plan.V1, plan.V3, plan.V2))
    monkeypatch.setitem(plan.SCENARIOS, "b", broken)
    with pytest.raises(ConfigError, match="v3: its bake starts from v2's image"):
        plan.variants_for(("b",))


def test_port_range_is_checked():
    with pytest.raises(ConfigError, match="--port"):
        plan.Names(80).validate()
    assert plan.Names(18480).ports == {"load balancer": 18480, "AWS emulator": 18481}


def test_variant_pillar_adds_app_environment_and_keeps_the_rest():
    text = "golden:\n  role: app\napp:\n  backend_replicas: 2\n  environment:\n    APP_X: '1'\n"
    out = yaml.safe_load(images.set_app_environment(text, {"APP_RELEASE": "v2"}))
    assert out["app"] == {"backend_replicas": 2, "environment": {"APP_X": "1", "APP_RELEASE": "v2"}}
    assert out["golden"] == {"role": "app"}


def test_variant_inputs_change_with_the_values_and_the_state_tree(tmp_path):
    (tmp_path / "salt").mkdir()
    (tmp_path / "salt" / "top.sls").write_text("base: {}\n")
    (tmp_path / "README.md").write_text("docs\n")
    files = ["README.md", "salt/top.sls"]
    one = images.variant_inputs(tmp_path, files, plan.V2, "x")
    assert one == images.variant_inputs(tmp_path, files, plan.V2, "x")
    assert one != images.variant_inputs(tmp_path, files, plan.V3, "x")
    (tmp_path / "README.md").write_text("other docs\n")  # not an input of the image
    assert one == images.variant_inputs(tmp_path, files, plan.V2, "x")
    (tmp_path / "salt" / "top.sls").write_text("base: {'*': [x]}\n")
    assert one != images.variant_inputs(tmp_path, files, plan.V2, "x")


def test_variant_inputs_change_with_goldens_code_the_image_carries(tmp_path):
    # The boot step and the instance side of hotfix run from the wheel the bake installs.
    boot = tmp_path / "scripts" / "golden" / "instance" / "boot.py"
    boot.parent.mkdir(parents=True)
    boot.write_text("one\n")
    files = ["scripts/golden/instance/boot.py"]
    one = images.variant_inputs(tmp_path, files, plan.V2, "x")
    boot.write_text("two\n")
    assert one != images.variant_inputs(tmp_path, files, plan.V2, "x")
    # The rehearsal's own code runs on this machine, not in the image.
    own = tmp_path / "scripts" / "golden" / "rehearsal" / "run.py"
    own.parent.mkdir(parents=True)
    own.write_text("a\n")
    two = images.variant_inputs(tmp_path, [*files, "scripts/golden/rehearsal/run.py"],
                                plan.V2, "x")  # fmt: skip
    own.write_text("b\n")
    assert two == images.variant_inputs(tmp_path, [*files, "scripts/golden/rehearsal/run.py"],
                                        plan.V2, "x")  # fmt: skip


def _cfg(tmp_path):
    return instances.RuntimeConfig(
        run_id="r1", network="golden-twin", name_prefix="golden-rehearsal",
        seed_root=str(tmp_path), balancer={},
    )  # fmt: skip


def test_an_instance_is_a_systemd_container_named_for_it_on_the_twin_network(tmp_path):
    argv = instances.run_argv(_cfg(tmp_path), "i-0abc", "sha256:img", tmp_path / "i-0abc")
    assert argv[:3] == ["docker", "run", "-d"]
    assert argv[argv.index("--name") + 1] == "golden-rehearsal-i-0abc"
    assert argv[argv.index("--hostname") + 1] == "i-0abc"
    assert argv[argv.index("--network") + 1] == "golden-twin"
    assert f"{instances.RUN_LABEL}=r1" in argv and f"{instances.INSTANCE_LABEL}=i-0abc" in argv
    assert f"{(tmp_path / 'i-0abc').resolve()}:/var/lib/cloud/seed/nocloud:ro" in argv
    assert argv[-2:] == ["sha256:img", "/sbin/init"]
    # Reached by the load balancer at its address, never published on the host.
    assert "-p" not in argv and "--publish" not in argv


def test_seed_files_carry_the_launch_templates_user_data():
    files = instances.seed_files("i-1", "#cloud-config\n")
    assert files["user-data"] == "#cloud-config\n"
    assert "instance-id: i-1" in files["meta-data"]


def test_an_ami_without_a_twin_image_cannot_launch_a_real_instance():
    assert instances.twin_image_for({instances.TWIN_IMAGE_TAG: "sha256:x"}, "ami-1") == "sha256:x"
    with pytest.raises(ValueError, match="ami-2"):
        instances.twin_image_for({}, "ami-2")


@pytest.mark.parametrize(("code", "exc", "expected"), [
    (200, None, "ok"), (302, None, "ok"), (429, None, "429"), (404, None, "4xx"),
    (502, None, "5xx"), (200, AssertionError("no results"), "other"),
    (0, ConnectionResetError("Connection reset by peer"), "reset"),
    (0, TimeoutError("timed out"), "timeout"), (0, ValueError("?"), "other")])  # fmt: skip
def test_request_outcomes(code, exc, expected):
    assert outcome_class(code, exc) == expected


def test_failed_requests_leave_429_and_4xx_apart():
    assert failed_requests({"ok": 90, "429": 5, "4xx": 2, "5xx": 1, "reset": 1,
                            "timeout": 1, "other": 1}) == 4  # fmt: skip
