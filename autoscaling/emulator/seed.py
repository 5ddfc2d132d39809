"""Put into an emulator what exists before `golden env apply` on a real account: the network
an environment's settings name (VPC, subnets and security groups by name, target groups,
gating alarms) and, standing in for the bake, AMIs tagged like the bake tags them.

    python -m autoscaling.emulator.seed --settings local [--amis 2]

Only for the emulator: it refuses an endpoint that is not on 127.0.0.1/localhost.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

from golden.core import tags as T

from autoscaling.aws import Clients
from autoscaling.settings import Environment, load


def _loopback_only(clients: Clients) -> None:
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or clients.endpoint_url or ""
    if urlparse(endpoint).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(
            f"seed: refusing endpoint {endpoint!r}: the seed is for the local emulator only"
        )


def register_ami(
    ec2,
    role: str,
    version: str,
    *,
    tested: bool = True,
    build_time: datetime | None = None,
    name: str | None = None,
) -> str:
    build_time = build_time or datetime.now(timezone.utc)
    image_id = ec2.register_image(
        Name=name or f"golden-{role}-{version}", Description=f"golden {role} {version} (emulator)"
    )["ImageId"]
    tags = {
        T.ROLE: role,
        T.TESTED: "true" if tested else "false",
        T.VERSION: version,
        T.GIT_REVISION: "0" * 40,
        T.STATE_TREE_REVISION: "0" * 40,
        T.BUILD_TIME: build_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        T.SOURCE_AMI: "ami-00000000000000000",
        T.SOURCE_AMI_NAME: "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-emulated",
        T.PACKER_VERSION: "emulated",
        T.APP_IMAGES: "emulated",
    }
    # Like the bake: Packer tags the AMI and its snapshots with the same provenance
    # (snapshot_tags = ami_tags), and `golden bake` marks both tested.
    snapshots = [
        m["Ebs"]["SnapshotId"]
        for image in ec2.describe_images(ImageIds=[image_id])["Images"]
        for m in image.get("BlockDeviceMappings") or []
        if m.get("Ebs", {}).get("SnapshotId")
    ]
    ec2.create_tags(
        Resources=[image_id, *snapshots], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )
    return image_id


def seed_network(env: Environment, clients: Clients) -> dict:
    """Idempotent: names that already exist are reused."""
    ec2, elbv2, cw = clients.ec2, clients.elbv2, clients.cloudwatch
    vpc_name = f"golden-{env.name}"
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [vpc_name]}])["Vpcs"]
    if vpcs:
        vpc_id = vpcs[0]["VpcId"]
    else:
        vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": vpc_name}])
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    created: dict = {
        "vpc": vpc_id,
        "subnets": {},
        "security_groups": {},
        "target_groups": {},
        "alarms": [],
    }
    subnet_names = sorted(
        {s for r in env.roles for s in env.role(r)["subnets"] if not s.startswith("subnet-")}
    )
    for index, name in enumerate(subnet_names):
        found = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": [name]}])["Subnets"]
        if found:
            created["subnets"][name] = found[0]["SubnetId"]
            continue
        subnet = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=f"10.42.{index + 1}.0/24",
            AvailabilityZone=zones[index % len(zones)],
        )["Subnet"]
        ec2.create_tags(Resources=[subnet["SubnetId"]], Tags=[{"Key": "Name", "Value": name}])
        created["subnets"][name] = subnet["SubnetId"]
    for role_name in env.roles:
        role = env.role(role_name)
        for name in role["security_groups"]:
            if name.startswith("sg-"):
                continue
            found = ec2.describe_security_groups(
                Filters=[{"Name": "group-name", "Values": [name]}]
            )["SecurityGroups"]
            created["security_groups"][name] = (
                found[0]["GroupId"]
                if found
                else ec2.create_security_group(
                    GroupName=name, Description=f"golden {role_name}", VpcId=vpc_id
                )["GroupId"]
            )
        for name in role["target_groups"]:
            if name.startswith("arn:"):
                continue
            try:
                arn = elbv2.describe_target_groups(Names=[name])["TargetGroups"][0][
                    "TargetGroupArn"
                ]
            except elbv2.exceptions.TargetGroupNotFoundException:
                arn = elbv2.create_target_group(
                    Name=name,
                    Protocol="HTTP",
                    Port=80,
                    VpcId=vpc_id,
                    HealthCheckPath="/healthz",
                    TargetType="instance",
                )["TargetGroups"][0]["TargetGroupArn"]
            created["target_groups"][name] = arn
            _load_balancer_for(elbv2, env, role_name, name, arn, created)
        for alarm in role["alarms"]:
            cw.put_metric_alarm(
                AlarmName=alarm,
                MetricName="HTTPCode_Target_5XX_Count",
                Namespace="AWS/ApplicationELB",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=10,
                ComparisonOperator="GreaterThanThreshold",
            )
            created["alarms"].append(alarm)
    return created


def _load_balancer_for(elbv2, env: Environment, role_name: str, tg_name: str, tg_arn: str,
                       created: dict) -> None:  # fmt: skip
    """An internal ALB with an HTTP listener forwarding to the target group, as the account
    has in front of the app (its idle timeout is AWS's default, 60 s, until `golden env
    apply` sets the timeout chain's)."""
    groups = elbv2.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"]
    if groups[0].get("LoadBalancerArns"):
        return
    subnets = list(created["subnets"].values())
    name = f"golden-{env.name}-{role_name}"[:32]
    try:
        lb_arn = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]["LoadBalancerArn"]
    except elbv2.exceptions.LoadBalancerNotFoundException:
        lb_arn = elbv2.create_load_balancer(
            Name=name, Subnets=subnets, Scheme="internal", Type="application"
        )["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )  # fmt: skip
    created.setdefault("load_balancers", {})[tg_name] = lb_arn


def seed_amis(env: Environment, clients: Clients, count: int) -> dict:
    out: dict[str, list[str]] = {}
    base = datetime.now(timezone.utc) - timedelta(hours=count)
    for role in env.roles:
        out[role] = [
            register_ami(clients.ec2, role, f"1.0.{n}", build_time=base + timedelta(hours=n))
            for n in range(count)
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autoscaling.emulator.seed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--settings", default="local", help="environment name or settings file")
    parser.add_argument("--amis", type=int, default=2, help="tested AMIs to register per role")
    args = parser.parse_args(argv)
    env = load(args.settings)
    clients = Clients.for_env(env)
    _loopback_only(clients)
    result = {"network": seed_network(env, clients), "amis": seed_amis(env, clients, args.amis)}
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
