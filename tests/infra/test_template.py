"""The foundation template agrees with what the image and the release engine expect:
the health-check path nginx serves, the timeout chain, the ports golden's roles listen on,
PostgreSQL's major version and TLS, the CloudWatch agent's log groups, the alarm names the
settings gate on. Read from the files that own each value, never restated here."""

from __future__ import annotations

import re

import pytest
import yaml
from golden.infra import parameters, run
from golden.infra import template as tmpl
from golden.twin.localstack import POSTGRES_MAJOR

from autoscaling import timeouts
from autoscaling.settings import ENV_DIR, load

REPO = ENV_DIR.parents[1]
T = tmpl.load()
RES = T.data["Resources"]
PARAMS = T.parameters


def _ref(value) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def test_the_target_groups_health_check_is_the_path_golden_nginx_serves():
    nginx = (REPO / "salt/nginx/files/golden.conf.j2").read_text()
    paths = re.findall(r"location = (/healthz)\s*\{", nginx)
    assert paths == ["/healthz"]
    group = RES["AppTargetGroup"]["Properties"]
    assert group["HealthCheckPath"] == paths[0]
    assert group["Port"] == 80 and group["Protocol"] == "HTTP"


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_idle_timeout_and_deregistration_delay_are_the_timeout_chains(env_name):
    links = timeouts.chain(timeouts.load_inputs())
    env = load(env_name)
    values = parameters.from_settings(env.raw, run.lb_timeouts(env))
    assert values["IdleTimeoutSeconds"] == links["lb_idle"]
    assert values["DeregistrationDelaySeconds"] == links["deregistration_delay"]
    # The template's own defaults are the chain's too (golden installed without a tree).
    assert PARAMS["IdleTimeoutSeconds"]["Default"] == links["lb_idle"]
    assert PARAMS["DeregistrationDelaySeconds"]["Default"] == links["deregistration_delay"]
    lb_attrs = {a["Key"]: a["Value"] for a in RES["LoadBalancer"]["Properties"][
        "LoadBalancerAttributes"]}  # fmt: skip
    tg_attrs = {a["Key"]: a["Value"] for a in RES["AppTargetGroup"]["Properties"][
        "TargetGroupAttributes"]}  # fmt: skip
    assert _ref(lb_attrs["idle_timeout.timeout_seconds"]) == "IdleTimeoutSeconds"
    assert _ref(tg_attrs["deregistration_delay.timeout_seconds"]) == "DeregistrationDelaySeconds"


def _ingress() -> set[tuple]:
    rules = set()
    for lid, res in RES.items():
        assert res["Type"] != "AWS::EC2::SecurityGroupIngress", f"{lid}: rules stay inline"
        if res["Type"] != "AWS::EC2::SecurityGroup":
            continue
        for rule in res["Properties"].get("SecurityGroupIngress", []):
            port = rule["FromPort"]
            assert rule["ToPort"] == port and rule["IpProtocol"] == "tcp"
            source = _ref(rule.get("SourceSecurityGroupId")) or _ref(rule.get("CidrIp"))
            rules.add((lid, _ref(port) or port, source))
    return rules


def test_security_groups_open_only_the_ports_golden_roles_use_and_no_ssh():
    assert _ingress() == {
        ("AlbSecurityGroup", 443, "IngressCidr"),
        ("AlbSecurityGroup", 80, "IngressCidr"),
        ("AppSecurityGroup", 80, "AlbSecurityGroup"),
        ("ChromaSecurityGroup", "ChromaProxyPort", "AppSecurityGroup"),
        ("DatabaseSecurityGroup", "DbPort", "AppSecurityGroup"),
        ("CacheSecurityGroup", "RedisPort", "AppSecurityGroup"),
        ("EndpointSecurityGroup", 443, "AppSecurityGroup"),
        ("EndpointSecurityGroup", 443, "ChromaSecurityGroup"),
    }
    assert not re.search(r"(FromPort|ToPort): 22\b", T.text)


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_ports_come_from_the_settings_and_the_chroma_proxy_is_pillars(env_name):
    pillar = yaml.safe_load((REPO / "pillar/roles/chroma.sls").read_text())
    defaults = yaml.safe_load((REPO / "salt/chroma/defaults.yaml").read_text())["defaults"]
    env = load(env_name)
    values = parameters.from_settings(env.raw, None)
    assert values["ChromaProxyPort"] == pillar["chroma"]["proxy_port"] == defaults["proxy_port"]
    assert PARAMS["ChromaProxyPort"]["Default"] == pillar["chroma"]["proxy_port"]
    assert values["DbPort"] == env.raw["instance"]["database"]["port"] == PARAMS["DbPort"][
        "Default"]  # fmt: skip
    assert values["RedisPort"] == env.raw["instance"]["redis"]["port"]


def test_postgresql_is_the_local_stand_ins_major_encrypted_tls_only_backed_up():
    db = RES["Database"]["Properties"]
    assert db["Engine"] == "postgres" and db["EngineVersion"] == str(POSTGRES_MAJOR)
    group = RES["DatabaseParameters"]["Properties"]
    assert group["Family"] == f"postgres{POSTGRES_MAJOR}"
    assert group["Parameters"]["rds.force_ssl"] == "1"
    assert db["StorageEncrypted"] is True and db["PubliclyAccessible"] is False
    assert _ref(db["BackupRetentionPeriod"]) == "DbBackupRetentionDays"
    assert PARAMS["DbBackupRetentionDays"]["Default"] == 7
    assert _ref(db["DeletionProtection"]) == "DeletionProtection"
    # The password is read from SSM by CloudFormation, never written in the template.
    assert db["MasterUserPassword"] == {"Fn::Sub": "{{resolve:ssm-secure:${SsmPath}db_password}}"}
    assert "NoEcho" not in T.text and not re.search(r"Password:\s*['\"]?\w", T.text)


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_the_app_connects_the_way_the_data_stores_require(env_name):
    document = load(env_name).instance_document("app")
    assert document["database"]["sslmode"] == "verify-full"
    cache = RES["Cache"]["Properties"]
    assert cache["TransitEncryptionEnabled"] is True and cache["AtRestEncryptionEnabled"] is True
    assert document["redis"]["tls"] is True and document["redis"]["auth"] is True
    assert "redis_auth_token" in cache["AuthToken"]["Fn::Sub"]


def test_uploads_are_versioned_encrypted_private_and_go_to_glacier():
    bucket = RES["UploadsBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"  # fmt: skip
    rule = bucket["LifecycleConfiguration"]["Rules"][0]
    assert rule["Transitions"][0]["StorageClass"].startswith("GLACIER")
    assert _ref(rule["Transitions"][0]["TransitionInDays"]) == "UploadsGlacierAfterDays"


def _agent_log_groups() -> dict[str, str]:
    """{group under the prefix: the pillar key of its retention}, from the agent's states."""
    out = {}
    for path in ("salt/cloudwatch/config.sls", "salt/chroma/logs.sls"):
        for entry in (REPO / path).read_text().split("- file_path:")[1:]:
            group = re.search(r"log_group_name: \{\{ prefix \}\}(\S+)", entry).group(1)
            days = re.search(r"retention_in_days: \{\{ (\S+) \}\}", entry).group(1)
            out[group] = "security" if "security" in days else "log"
    return out


def test_log_groups_are_the_cloudwatch_agents_with_its_retentions():
    stack_groups = {}
    for res in RES.values():
        if res["Type"] == "AWS::Logs::LogGroup":
            name = res["Properties"]["LogGroupName"]["Fn::Sub"].replace("${LogGroupPrefix}", "")
            days = _ref(res["Properties"]["RetentionInDays"])
            stack_groups[name] = "security" if days == "SecurityLogRetentionDays" else "log"
    assert stack_groups == _agent_log_groups()
    defaults = yaml.safe_load((REPO / "salt/cloudwatch/defaults.yaml").read_text())["defaults"]
    assert PARAMS["LogRetentionDays"]["Default"] == defaults["log_retention_days"]
    assert PARAMS["SecurityLogRetentionDays"]["Default"] == defaults[
        "security_log_retention_days"]  # fmt: skip


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_the_alarms_a_release_gates_on_are_the_ones_the_stack_creates(env_name):
    env = load(env_name)
    prefix = parameters.from_settings(env.raw, None)["NamePrefix"]
    names = {lid: res["Properties"]["AlarmName"]["Fn::Sub"].replace("${NamePrefix}", prefix)
             for lid, res in RES.items() if res["Type"] == "AWS::CloudWatch::Alarm"}  # fmt: skip
    outputs = T.data["Outputs"]
    app = [_ref(v) for v in outputs["AppAlarmNames"]["Value"]["Fn::Join"][1]]
    assert sorted(env.role("app")["alarms"]) == sorted(names[lid] for lid in app)
    assert env.role("chroma")["alarms"] == [names[_ref(outputs["ChromaAlarmNames"]["Value"])]]


def test_instances_read_only_their_own_secrets():
    app = RES["AppRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    secrets = next(s for s in app if s["Sid"] == "Secrets")["Resource"]
    names = sorted(r["Fn::Sub"].rsplit("${SsmPath}", 1)[1] for r in secrets)
    assert names == sorted(run.INSTANCE_SECRETS)
    chroma = RES["ChromaRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    token = next(s for s in chroma if s["Sid"] == "Token")["Resource"]
    assert token["Fn::Sub"].endswith("${SsmPath}chroma_token")
    # The managed AmazonSSMManagedInstanceCore allows ssm:GetParameter(s) on "*": an
    # explicit deny of every other parameter is what keeps each role to its own.
    for statements, own in ((app, sorted(run.INSTANCE_SECRETS)), (chroma, ["chroma_token"])):
        deny = next(s for s in statements if s["Sid"] == "NoOtherParameters")
        assert deny["Effect"] == "Deny" and "Resource" not in deny
        assert {"ssm:GetParameter", "ssm:GetParameters"} <= set(deny["Action"])
        allowed = [r["Fn::Sub"] for r in deny["NotResource"]]
        assert sorted(r.rsplit("${SsmPath}", 1)[1] for r in allowed if "${SsmPath}" in r) == own
        assert all("${SsmPath}" in r or r.endswith("parameter/AmazonCloudWatch-*")
                   for r in allowed)  # fmt: skip
    for res in RES.values():
        for policy in (res.get("Properties") or {}).get("Policies") or []:
            for statement in policy["PolicyDocument"]["Statement"]:
                assert "*" not in str(statement["Action"]), statement


def test_data_stores_keep_their_data_and_delete_data_switches_only_them():
    assert T.data_stores == {"Database": "Snapshot", "Cache": "Snapshot",
                             "ChromaDataVolume": "Snapshot",
                             "UploadsBucket": "RetainExceptOnCreate"}  # fmt: skip
    deleting = tmpl.parse(T.deleting_data())
    assert deleting.data_stores == {}
    for lid in T.data_stores:
        assert deleting.data["Resources"][lid]["DeletionPolicy"] == "Delete"
    changed = [a for a, b in zip(T.text.splitlines(), T.deleting_data().splitlines(),
                                 strict=True) if a != b]  # fmt: skip
    assert len(changed) == len(T.data_stores)
    assert T.secure_parameters() == ["db_password", "redis_auth_token"]


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_the_shipped_parameter_files_pass_the_checks(env_name):
    env = load(env_name)
    path = tmpl.parameter_file(env_name)
    values = parameters.build(T.parameters, parameters.from_settings(env.raw, run.lb_timeouts(env)),
                              tmpl.read_parameter_file(path), str(path), str(env.path),
                              env.region)  # fmt: skip
    assert values["DeletionProtection"] == ("true" if env_name == "prod" else "false")
    assert values["AvailabilityZones"].count(",") == 1
