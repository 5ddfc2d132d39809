"""Migrations in a release (`golden release --migrate CMD`): the app's migration command
runs once, with the new image and the environment's settings, on a one-off instance of
the new launch-template version outside the group, before the instance refresh; a
failure stops the release with nothing rolled.

The decisions (what runs, the script, the RunInstances request, what an answer means)
are tested directly; the flow against the AWS emulator. What the emulation does not
model, so these tests cannot show it: the one-off instance is a record, not a computer
(its user data and boot step never run, no container starts, nothing reaches a
database); Run Command executes nothing there, each command ends as the test declares
(emulator/ssm_outcomes.py, a rule for any instance: the test cannot know the one-off
instance's id in advance); every running instance is an SSM-managed node whose agent is
Online at once (DescribeInstanceInformation; no registration delay, no missing agent or
instance profile). The migration against a real PostgreSQL (the FastAPI app's Alembic
migration) is a twin test, not this file's.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError
from golden.core.errors import ConfigError, OperationFailed

from autoscaling import migration, oneoff
from autoscaling.emulator.seed import register_ami
from autoscaling.refresh import Timing
from autoscaling.settings import Role

REPO = Path(__file__).resolve().parents[2]
ALEMBIC = "alembic upgrade head"
ALEMBIC_OUTPUT = (
    "INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\n"
    "INFO  [alembic.runtime.migration] Running upgrade 1a2b -> 3c4d, add conversations.title\n"
)


def _role(name: str = "app", **setting) -> Role:
    return Role(name, {"migration": setting or None})


# -- what runs (pure) ---------------------------------------------------------------------------
def test_the_command_line_wins_over_the_setting_and_is_split_like_a_shell():
    role = _role(command="alembic upgrade head", service="api", timeout_seconds=120)
    chosen = migration.resolve(role, "python -m app.migrate --to 'rev 7'", None, None, "f.yaml")
    assert chosen == migration.Migration(
        ("python", "-m", "app.migrate", "--to", "rev 7"), "api", 120
    )
    from_settings = migration.resolve(
        _role(command=["alembic", "upgrade", "head"]), None, None, None, "f"
    )
    assert from_settings == migration.Migration(
        ("alembic", "upgrade", "head"), None, migration.DEFAULT_TIMEOUT_SECONDS
    )
    assert migration.resolve(_role(), None, None, None, "f") is None


@pytest.mark.parametrize(
    ("role", "command", "expected"),
    [
        (_role(), "alembic upgrade 'head", "--migrate: cannot split"),
        (_role(), "   ", "--migrate: expected a command"),
        (_role("chroma"), ALEMBIC, "only the app role"),
        (_role("app", command=""), None, "f.yaml: roles.app.migration.command: expected a command"),
    ],
)
def test_a_bad_migration_command_is_refused_naming_where_it_came_from(role, command, expected):
    with pytest.raises(ConfigError, match=expected):
        migration.resolve(role, command, None, None, "f.yaml")


SERVICES = {
    "services": [],
    "containers": [
        {"name": "web", "service": "web", "healthz": False},
        {"name": "api-1", "service": "api", "healthz": True},
        {"name": "api-2", "service": "api", "healthz": True},
        {"name": "jobs", "service": "jobs", "healthz": False},
    ],
}


@pytest.mark.parametrize(
    ("service", "container"), [("", "api-1"), ("jobs", "jobs"), ("web", "web")]
)
def test_the_service_resolves_to_its_first_container_on_the_instance(tmp_path, service, container):
    """The snippet the script runs on the instance, run here against a services.json of
    the shape salt/_modules/golden_app.py writes (empty service: app:healthz_service)."""
    path = tmp_path / "services.json"
    path.write_text(json.dumps(SERVICES))
    found = subprocess.run(
        [sys.executable, "-c", migration._PICK_CONTAINER, service, str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert found.stdout.strip() == container


def test_an_unknown_service_fails_the_script_naming_the_declared_ones(tmp_path):
    path = tmp_path / "services.json"
    path.write_text(json.dumps(SERVICES))
    found = subprocess.run(
        [sys.executable, "-c", migration._PICK_CONTAINER, "backend", str(path)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert found.returncode == 1
    assert "no service 'backend'" in found.stderr and "declared: api, jobs, web" in found.stderr


def test_the_script_runs_the_command_in_the_services_container_with_its_arguments_intact(tmp_path):
    """The last line is run with a stand-in `docker` that prints the arguments it got:
    each argument of CMD arrives whole (shell-quoted), in the service's container."""
    owned = tmp_path / "owned"
    argv = ("alembic", "-x", "data=a b", "upgrade", f"head; touch {owned}", "$HOME", "*")
    lines = migration.script(migration.Migration(argv, "api", 600))
    stub = tmp_path / "docker"
    stub.write_text('#!/bin/sh\nfor a in "$@"; do printf \'%s\\n\' "$a"; done\n')
    stub.chmod(0o755)
    ran = subprocess.run(
        ["sh", "-c", "container=api-1\n" + lines[-1]],
        capture_output=True, text=True, timeout=30, check=True,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
    )  # fmt: skip
    compose = [
        "compose", "--project-name", "app", "--file", "/opt/app/compose.yaml",
        "--env-file", "/run/app/limits.env", "run", "--rm", "--no-deps", "-T", "api-1",
    ]  # fmt: skip
    assert ran.stdout.splitlines() == compose + list(argv)
    assert not owned.exists()
    # The service is picked by its name, after the boot step wrote the settings and
    # with app.service kept off; the script's exit code is the command's (exec).
    script = "\n".join(lines)
    assert f"{shlex.quote(migration._PICK_CONTAINER)} api /etc/app/services.json" in script
    steps = ("systemctl daemon-reload", "systemctl stop app.service",
             "golden-boot.service", "golden-app-runtime", "exec docker")  # fmt: skip
    order = [script.index(s) for s in steps]
    assert order == sorted(order)
    assert lines[0] == "set -eu" and lines[-1].startswith("exec docker compose ")
    # A killed golden leaves no instance for long: it powers off (= terminates) a minute
    # after golden's own deadline (600 s + the answer margin).
    assert lines[1] == "shutdown -P +12 'golden migration: one-off instance deadline'"
    assert subprocess.run(["sh", "-n", "-c", script], timeout=30, check=False).returncode == 0


def test_the_scripts_paths_are_those_the_app_formula_installs():
    """The compose project, file, limits env file, services.json, golden-app-runtime and
    the units named in the script are the state tree's."""
    defaults = yaml.safe_load((REPO / "salt/app/defaults.yaml").read_text())["defaults"]
    assert migration.PROJECT == defaults["project"]
    assert migration.COMPOSE_FILE == f"{defaults['dir']}/compose.yaml"
    service_sls = (REPO / "salt/app/service.sls").read_text()
    assert f"--env-file {migration.LIMITS_ENV} " in service_sls
    assert f"--services {migration.SERVICES_JSON}'" in service_sls
    assert "- name: /etc/systemd/system/app.service" in service_sls
    config_sls = (REPO / "salt/app/config.sls").read_text()
    assert f"- name: {migration.APP_RUNTIME}" in config_sls
    assert f"- name: {migration.SERVICES_JSON}" in config_sls
    assert (REPO / "salt/golden/files/golden-boot.service.j2").exists()
    unit = (REPO / "salt/app/files/app.service.j2").read_text()
    assert "Requires=docker.service golden-boot.service" in unit


def test_the_settings_default_timeout_is_the_commands():
    schema = json.loads((REPO / "schemas/environment.schema.json").read_text())
    setting = schema["$defs"]["role"]["properties"]["migration"]["properties"]
    assert setting["timeout_seconds"]["default"] == migration.DEFAULT_TIMEOUT_SECONDS


@pytest.mark.parametrize(
    ("answer", "finished", "succeeded", "reason"),
    [
        ({"Status": "Success", "StatusDetails": "Success", "ResponseCode": 0}, True, True, None),
        ({"Status": "Failed", "StatusDetails": "Failed", "ResponseCode": 2}, True, False,
         "the command exited with code 2"),
        ({"Status": "TimedOut", "StatusDetails": "Execution Timed Out", "ResponseCode": -1},
         True, False, "the command ran longer than 300s (--migrate-timeout)"),
        ({"Status": "Failed", "StatusDetails": "Undeliverable", "ResponseCode": -1}, True, False,
         "Run Command ended Failed (Undeliverable)"),
        ({"Status": "InProgress", "StatusDetails": "In Progress"}, False, False,
         "no answer within 300s (--migrate-timeout); last status In Progress"),
        # Success without an exit code of 0 is not trusted.
        ({"Status": "Success", "StatusDetails": "Success", "ResponseCode": 1}, True, False,
         "Run Command ended Success"),
    ],
)  # fmt: skip
def test_what_an_answer_means(answer, finished, succeeded, reason):
    got = migration.outcome(
        {**answer, "StandardOutputContent": "\n".join(f"line {n}" for n in range(50))},
        finished, 300,
    )  # fmt: skip
    assert got["succeeded"] is succeeded
    assert (got["reason"] or "").startswith(reason or "") and bool(got["reason"]) != succeeded
    assert got["stdout_tail"].splitlines() == [f"line {n}" for n in range(30, 50)]


def test_the_one_off_instance_is_launched_from_the_version_outside_the_group():
    tags = migration.instance_tags(
        {"TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": "golden:role", "Value": "app"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "v", "Value": "1"}]},
        ]},
        "golden-local-app",
    )  # fmt: skip
    request = migration.launch_request("lt-1", 7, "subnet-a", tags, "tok")
    assert request["LaunchTemplate"] == {"LaunchTemplateId": "lt-1", "Version": "7"}
    assert (request["MinCount"], request["MaxCount"], request["SubnetId"]) == (1, 1, "subnet-a")
    assert request["InstanceInitiatedShutdownBehavior"] == "terminate"
    assert request["TagSpecifications"] == [{"ResourceType": "instance", "Tags": [
        {"Key": "Name", "Value": "golden-local-app-migration"},
        {"Key": "golden:role", "Value": "app"},
        {"Key": "golden:task", "Value": "migration"},
    ]}]  # fmt: skip
    assert "ImageId" not in request and "UserData" not in request  # the version's own
    assert migration.first_subnet({"VPCZoneIdentifier": "subnet-a,subnet-b"}) == "subnet-a"


# -- bounded waits (the adapter, with a fake clock and fake AWS answers) --------------------------
class _Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = 0

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1


def _timing(clock: _Clock) -> Timing:
    return Timing(min_interval=1, max_interval=5, sleep=clock.sleep, clock=lambda: clock.now)


class _FakeAws:
    """describe_instances and describe_instance_information answers, in AWS's shapes."""

    def __init__(self, state: str = "running", ping: str | None = None):
        self.state, self.ping, self.calls = state, ping, 0

    @property
    def ec2(self):
        return self

    @property
    def ssm(self):
        return self

    def describe_instances(self, InstanceIds):  # noqa: N803 - boto3's names
        self.calls += 1
        instance = {"InstanceId": InstanceIds[0], "State": {"Name": self.state}}
        if self.state == "terminated":
            instance["StateReason"] = {"Message": "Server.InsufficientInstanceCapacity"}
        return {"Reservations": [{"Instances": [instance]}]}

    def describe_instance_information(self, Filters):  # noqa: N803
        listed = [{"InstanceId": Filters[0]["Values"][0], "PingStatus": self.ping}]
        return {"InstanceInformationList": listed if self.ping else []}


def test_an_instance_whose_agent_never_answers_fails_at_the_deadline():
    clock = _Clock()
    aws = _FakeAws(ping=None)
    with pytest.raises(OperationFailed, match="i-1 did not become SSM-managed within 60s"):
        oneoff.OneOff(aws).wait_managed("i-1", 60, _timing(clock))
    assert 55 <= clock.now <= 60 and aws.calls <= 62


def test_an_instance_that_ends_on_its_way_up_fails_at_once():
    clock = _Clock()
    with pytest.raises(OperationFailed, match="went terminated .*InsufficientInstanceCapacity"):
        oneoff.OneOff(_FakeAws(state="terminated")).wait_managed("i-1", 60, _timing(clock))
    assert clock.sleeps == 0


def test_poll_until_is_bounded_in_count_when_the_clock_stands_still():
    calls = []
    timing = Timing(min_interval=1, max_interval=5, sleep=lambda s: None, clock=lambda: 0.0)
    done, _ = oneoff.poll_until(lambda: (calls.append(1), (False, len(calls)))[1], 10, timing)
    assert not done and len(calls) == 12


# -- the release against the emulator -----------------------------------------------------------
@pytest.fixture
def new_ami(world):
    ami = register_ami(world.client("ec2"), "app", "2.0.0")
    world.emulator.clear_requests()
    return ami


def _migration_instances(world) -> list[dict]:
    reservations = world.client("ec2").describe_instances(
        Filters=[{"Name": "tag:golden:task", "Values": ["migration"]}]
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def _group_state(world) -> dict:
    group = world.group()
    return {
        "version": group["LaunchTemplate"]["Version"],
        "default": world.template()["DefaultVersionNumber"],
        "instances": world.instance_amis(),
    }


def _commands(world) -> list[dict]:
    return world.emulator.ssm_state()["commands"]


def test_dry_run_shows_the_migration_before_the_refresh_and_changes_nothing(world, new_ami):
    result = world.release(new_ami, "--migrate", ALEMBIC, "--migrate-service", "api",
                           "--dry-run", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [s.split(" ")[0] for s in plan["steps"]] == ["launch", "migration:", "instance"]
    assert plan["steps"][1] == f"migration: {ALEMBIC} (one-off instance)"
    assert plan["migration"]["command"] == ALEMBIC and plan["migration"]["service"] == "api"
    assert "outside the group" in plan["migration"]["where"]
    assert world.mutating_calls() == []


def test_migration_runs_once_on_a_one_off_instance_of_the_new_version_before_the_refresh(
    world, new_ami
):
    world.emulator.ssm_outcome("*", stdout=ALEMBIC_OUTPUT)
    members = set(world.instance_amis())
    result = world.release(new_ami, "--migrate", ALEMBIC, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    ran = out["migration"]
    assert ran["succeeded"] is True and ran["exit_code"] == 0 and ran["terminated"] is True
    assert "Running upgrade 1a2b -> 3c4d" in ran["stdout_tail"]
    # The one-off instance: from the new version (its AMI), outside the group, not a
    # target of the load balancer, terminated.
    (instance,) = _migration_instances(world)
    assert instance["InstanceId"] == ran["instance_id"]
    assert instance["ImageId"] == new_ami and instance["State"]["Name"] == "terminated"
    assert instance["SubnetId"] == world.group()["VPCZoneIdentifier"].split(",")[0]
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["aws:ec2launchtemplate:version"] == str(out["new_version"])
    assert tags["golden:role"] == "app" and tags["golden:environment"] == "local"
    assert instance["InstanceId"] not in members | set(world.instance_amis())
    arn = world.group()["TargetGroupARNs"][0]
    targets = world.client("elbv2").describe_target_health(TargetGroupArn=arn)
    assert instance["InstanceId"] not in {
        t["Target"]["Id"] for t in targets["TargetHealthDescriptions"]
    }
    # One command, to that instance only, running the migration; then the refresh.
    (command,) = _commands(world)
    assert [i["InstanceId"] for i in command["invocations"]] == [instance["InstanceId"]]
    assert command["Parameters"]["commands"] == migration.script(
        migration.Migration(("alembic", "upgrade", "head"), None, 1800)
    )
    actions = world.actions()
    order = [actions.index(a) for a in ("RunInstances", "SendCommand", "TerminateInstances",
                                        "StartInstanceRefresh")]  # fmt: skip
    assert order == sorted(order)
    assert set(world.instance_amis().values()) == {new_ami}


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ({"status": "Failed", "response_code": 1, "stdout": ALEMBIC_OUTPUT,
          "stderr": 'sqlalchemy.exc.ProgrammingError: relation "conversations" does not exist'},
         "the command exited with code 1"),
        ({"status": "TimedOut"},
         "the command ran longer than 120s (--migrate-timeout) and was stopped"),
        ({"status": "Undeliverable"}, "Run Command ended Failed (Undeliverable)"),
    ],
)  # fmt: skip
def test_a_failed_migration_stops_the_release_with_nothing_rolled(
    world, new_ami, outcome, expected
):
    world.emulator.ssm_outcome("*", **outcome)
    before = _group_state(world)
    result = world.release(new_ami, "--migrate", ALEMBIC, "--migrate-timeout", "120")
    assert result.exit_code == 4
    assert f"migration failed: {expected}" in result.stderr
    assert "nothing was rolled: no instance refresh was started" in result.stderr
    old = world.amis["app"][-1]  # what env apply launched the group with
    assert (
        f"is as it was: {old} on 2 instance(s); group launch template version "
        f"{before['version']}" in result.stderr
    )
    assert f"(one-off instance {_migration_instances(world)[0]['InstanceId']}, terminated)" in (
        result.stderr
    )
    if outcome.get("stderr"):
        assert 'relation "conversations" does not exist' in result.stderr
    assert _group_state(world) == before
    asg = world.client("autoscaling")
    assert (
        asg.describe_instance_refreshes(AutoScalingGroupName=world.group()["AutoScalingGroupName"])[
            "InstanceRefreshes"
        ]
        == []
    )
    assert "StartInstanceRefresh" not in world.actions()
    assert "ModifyLaunchTemplate" not in world.actions()
    (instance,) = _migration_instances(world)
    assert instance["State"]["Name"] == "terminated"


def test_an_interrupted_migration_still_terminates_its_instance(world, new_ami, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(oneoff.OneOff, "run_script", interrupted)
    before = _group_state(world)
    result = world.release(new_ami, "--migrate", ALEMBIC)
    assert result.exit_code != 0
    (instance,) = _migration_instances(world)
    assert instance["State"]["Name"] == "terminated"
    assert _group_state(world) == before
    assert "StartInstanceRefresh" not in world.actions()


def test_a_release_that_rolls_nothing_runs_no_migration_again(world, new_ami):
    world.emulator.ssm_outcome("*", stdout=ALEMBIC_OUTPUT)
    assert world.release(new_ami, "--migrate", ALEMBIC).exit_code == 0
    world.emulator.clear_requests()
    again = world.release(new_ami, "--migrate", ALEMBIC, "--json")
    assert again.exit_code == 0, again.stderr
    out = json.loads(again.stdout)
    assert out["status"] == "AlreadyReleased"
    assert out["migration"] == {"ran": False, "reason": migration.NOT_RUN["none"]}
    assert "migration: not run" in again.stderr
    assert not {"RunInstances", "SendCommand"} & set(world.actions())
    assert len(_commands(world)) == 1


def test_the_migration_setting_of_the_role_runs_without_the_flag(world, new_ami, tmp_path):
    data = yaml.safe_load(world.settings.read_text())
    data["roles"]["app"]["migration"] = {"command": ["alembic", "upgrade", "head"],
                                         "service": "api", "timeout_seconds": 90}  # fmt: skip
    world.settings.write_text(yaml.safe_dump(data, sort_keys=False))
    world.emulator.ssm_outcome("*", status="Failed", response_code=3)
    result = world.release(new_ami)
    assert result.exit_code == 4 and "exited with code 3" in result.stderr
    (command,) = _commands(world)
    assert command["Parameters"]["executionTimeout"] == ["90"]
    assert " api /etc/app/services.json)" in "\n".join(command["Parameters"]["commands"])


# -- the emulator's managed nodes ---------------------------------------------------------------
def test_emulator_lists_running_instances_as_managed_nodes_and_not_terminated_ones(world):
    ssm, ec2 = world.client("ssm"), world.client("ec2")
    running = sorted(world.instance_amis())
    nodes = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": running}])[
        "InstanceInformationList"
    ]
    assert [(n["InstanceId"], n["PingStatus"], n["ResourceType"]) for n in nodes] == [
        (i, "Online", "EC2Instance") for i in running
    ]
    ec2.terminate_instances(InstanceIds=running[:1])
    left = ssm.describe_instance_information(
        InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": running}]
    )["InstanceInformationList"]
    assert [n["InstanceId"] for n in left] == running[1:]
    with pytest.raises(ClientError, match="InvalidInstanceId"):
        ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}]
        )
    with pytest.raises(ClientError, match="cannot be used together"):
        ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": running}],
            InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": running}],
        )


def test_emulator_rule_for_any_instance_applies_only_where_none_of_its_own_does(world):
    first, second = sorted(world.instance_amis())
    world.emulator.ssm_outcome("*", status="Failed", response_code=5)
    world.emulator.ssm_outcome(first, stdout="mine")
    ssm = world.client("ssm")
    command_id = ssm.send_command(
        InstanceIds=[first, second], DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["true"]},
    )["Command"]["CommandId"]  # fmt: skip
    answers = {}
    for _ in range(20):
        answers = {
            i: ssm.get_command_invocation(CommandId=command_id, InstanceId=i)
            for i in (first, second)
        }
        if all(a["Status"] not in ("Pending", "InProgress") for a in answers.values()):
            break
    assert (answers[first]["Status"], answers[first]["StandardOutputContent"]) == (
        "Success",
        "mine",
    )
    assert (answers[second]["Status"], answers[second]["ResponseCode"]) == ("Failed", 5)


def test_a_table_prints_brackets_in_values_as_they_are(capsys):
    """Alembic's log lines ("INFO  [alembic.runtime.migration] ...") in the migration's
    output tail are not taken for console markup and dropped."""
    from golden.core import output

    output.print_table("t", [{"v": "INFO  [alembic.runtime.migration] Running upgrade"}], ["v"])
    assert "[alembic.runtime.migration]" in capsys.readouterr().out
