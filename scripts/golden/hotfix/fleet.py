"""AWS adapter for hotfix and drift fan-outs: the group's instances, the artifacts bucket,
SSM Run Command and instance tags. Thin calls that hand plain dicts back; every decision
about them is in golden.hotfix_plan."""

from __future__ import annotations

import time
from collections.abc import Callable

from botocore.exceptions import ClientError

from autoscaling.aws import Clients
from golden.core import tags as T
from golden.core.errors import ConfigError
from golden.hotfix.plan import TERMINAL


class Fleet:
    def __init__(self, clients: Clients):
        self.c = clients

    # -- the group --------------------------------------------------------------------------
    def group(self, name: str) -> dict:
        groups = self.c.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        if not groups:
            raise ConfigError(f"Auto Scaling group {name} does not exist (golden env apply?)")
        return groups[0]

    def launched_image(self, group: dict) -> tuple[str | None, str | None]:
        """(AMI the group launches now, its golden:state-tree-revision tag)."""
        spec = group.get("LaunchTemplate") or {}
        if not spec.get("LaunchTemplateId"):
            return None, None
        try:
            versions = self.c.ec2.describe_launch_template_versions(
                LaunchTemplateId=spec["LaunchTemplateId"],
                Versions=[str(spec.get("Version") or "$Default")],
            )["LaunchTemplateVersions"]
        except ClientError:
            return None, None
        ami = versions[0]["LaunchTemplateData"].get("ImageId") if versions else None
        if not ami:
            return None, None
        images = self.c.ec2.describe_images(ImageIds=[ami]).get("Images", [])
        tags = {t["Key"]: t["Value"] for t in (images[0].get("Tags", []) if images else [])}
        return ami, tags.get(T.STATE_TREE_REVISION)

    # -- the bucket -------------------------------------------------------------------------
    def bucket_problem(self, bucket: str) -> str | None:
        try:
            self.c.s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchBucket", "NotFound"):
                return "does not exist"
            if code in ("403", "AccessDenied"):
                return "is not accessible with these credentials"
            return f"cannot be checked ({code})"
        return None

    def stored_sha(self, bucket: str, key: str) -> str | None:
        try:
            head = self.c.s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            return None
        return (head.get("Metadata") or {}).get("sha256")

    def upload(self, bucket: str, key: str, path: str, sha256: str) -> None:
        with open(path, "rb") as body:
            self.c.s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ServerSideEncryption="AES256",
                Metadata={"sha256": sha256},
                ContentType="application/gzip",
            )

    # -- Run Command ------------------------------------------------------------------------
    def send(
        self,
        instance_ids: list[str],
        commands: list[str],
        *,
        comment: str,
        max_concurrency: str,
        max_errors: str,
        execution_timeout: int,
        delivery_timeout: int,
    ) -> str:
        reply = self.c.ssm.send_command(
            InstanceIds=instance_ids,
            DocumentName="AWS-RunShellScript",
            Comment=comment[:100],
            Parameters={"commands": commands, "executionTimeout": [str(execution_timeout)]},
            MaxConcurrency=max_concurrency,
            MaxErrors=max_errors,
            TimeoutSeconds=delivery_timeout,
        )
        return reply["Command"]["CommandId"]

    def listing(self, command_id: str) -> dict[str, dict]:
        out: dict[str, dict] = {}
        kwargs = {"CommandId": command_id}
        for _ in range(100):
            page = self.c.ssm.list_command_invocations(**kwargs)
            for inv in page.get("CommandInvocations", []):
                out[inv["InstanceId"]] = inv
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        return out

    def invocation(self, command_id: str, instance_id: str) -> dict:
        return self.c.ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)

    def follow(
        self,
        command_id: str,
        instance_ids: list[str],
        *,
        poll: float,
        timeout: float,
        on_change: Callable[[str, dict, int, int], None],
    ) -> tuple[dict[str, dict], bool]:
        """Poll until every invocation ended or ``timeout`` passed; returns the final
        GetCommandInvocation answer per instance and whether all ended."""
        deadline = time.monotonic() + timeout
        seen: dict[str, str] = {}
        listing: dict[str, dict] = {}
        finished = False
        while True:
            listing = self.listing(command_id)
            done = sum(1 for inv in listing.values() if inv.get("Status") in TERMINAL)
            for instance_id in instance_ids:
                inv = listing.get(instance_id)
                status = (inv or {}).get("StatusDetails") or (inv or {}).get("Status")
                if inv and seen.get(instance_id) != status:
                    seen[instance_id] = status
                    on_change(instance_id, inv, done, len(instance_ids))
            if listing and all(listing.get(i, {}).get("Status") in TERMINAL for i in instance_ids):
                finished = True
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(poll)
        results = {}
        for instance_id in instance_ids:
            inv = listing.get(instance_id) or {}
            if inv.get("Status") in ("Pending", "Cancelled") or not inv:
                results[instance_id] = inv
            else:
                results[instance_id] = self.invocation(command_id, instance_id)
        return results, finished

    # -- tags -------------------------------------------------------------------------------
    def tag(self, instance_ids: list[str], tags: dict[str, str]) -> None:
        if instance_ids:
            self.c.ec2.create_tags(
                Resources=instance_ids, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            )
