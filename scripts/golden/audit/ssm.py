"""The audit's way onto an instance: the tool bundle goes to the environment's artifacts
bucket (golden/audit/<sha256>.tar.gz, server-side encrypted), the instance fetches it
through a presigned URL (valid for minutes; the instance needs no S3 permission for it),
and the script runs through SSM Run Command (AWS-RunShellScript). Thin calls handing
plain data back; the choice of instance is `pick_instance`."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from autoscaling.aws import Clients
from golden.audit.bundle import Bundle
from golden.core.errors import ConfigError, OperationFailed

TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")
URL_SECONDS = 900



def bundle_key(sha256: str) -> str:
    return f"golden/audit/{sha256}.tar.gz"


def pick_instance(group: dict, wanted: str | None) -> str:
    """The instance to audit: ``wanted`` when it is InService in the group, else the
    group's first InService instance (by id). ConfigError naming the group otherwise."""
    name = group.get("AutoScalingGroupName")
    in_service = sorted(i["InstanceId"] for i in group.get("Instances", [])
                        if i.get("LifecycleState") == "InService")
    if wanted:
        if wanted not in in_service:
            raise ConfigError(f"--instance {wanted}: not an InService instance of {name} "
                              f"(InService: {', '.join(in_service) or 'none'})")
        return wanted
    if not in_service:
        raise ConfigError(f"Auto Scaling group {name} has no InService instance to audit")
    return in_service[0]


def group(clients: Clients, name: str) -> dict:
    found = clients.autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not found:
        raise ConfigError(f"Auto Scaling group {name} does not exist (golden env apply?)")
    return found[0]


def upload(clients: Clients, bucket: str, bundle: Bundle) -> str:
    """The bundle in the bucket (skipped when it is there already); returns a presigned
    GET URL for it."""
    key = bundle_key(bundle.sha256)
    try:
        clients.s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        with open(bundle.path, "rb") as body:
            clients.s3.put_object(Bucket=bucket, Key=key, Body=body,
                                  ServerSideEncryption="AES256",
                                  Metadata={"sha256": bundle.sha256},
                                  ContentType="application/gzip")  # fmt: skip
    return clients.s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=URL_SECONDS)


def run(clients: Clients, instance_id: str, script: str, *, timeout: float,
        poll: float) -> dict:
    """Send the script to one instance and wait (bounded by ``timeout`` seconds) for its
    invocation to end; returns GetCommandInvocation's answer. OperationFailed when it
    did not end in time."""
    command_id = clients.ssm.send_command(
        InstanceIds=[instance_id], DocumentName="AWS-RunShellScript",
        Comment="golden audit", TimeoutSeconds=60,
        Parameters={"commands": script.splitlines(),
                    "executionTimeout": [str(int(timeout))]},
    )["Command"]["CommandId"]  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(poll)
        try:
            reply = clients.ssm.get_command_invocation(CommandId=command_id,
                                                       InstanceId=instance_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvocationDoesNotExist":
                continue
            raise
        if reply.get("Status") in TERMINAL:
            return reply
    raise OperationFailed(f"golden audit on {instance_id}: command {command_id} did not end "
                          f"within {timeout:.0f}s (it may still be running)")
