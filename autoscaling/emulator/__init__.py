"""An AWS emulator for tests and for people without an AWS account.

It is moto's server (moto 5.2) on 127.0.0.1, run in its own process by
``python -m autoscaling.emulator --port N [--record FILE] [--step-seconds S]``, with these
changes made inside that process (autoscaling/emulator/patches.py):

Added
- StartInstanceRefresh, DescribeInstanceRefreshes, CancelInstanceRefresh,
  RollbackInstanceRefresh (emulator/instance_refresh.py): statuses Pending, InProgress,
  Baking, Successful, Failed, Cancelling, Cancelled, RollbackInProgress,
  RollbackSuccessful; PercentageComplete, InstancesToUpdate, RollbackDetails; batches
  sized by Min/MaxHealthyPercentage as AWS documents them (emulator/refresh_batches.py:
  rounding, terminate-and-launch or launch-before-terminate, explicit vs omitted
  maximum), instance warm-up before a batch counts, checkpoints that cut batches, pause
  once per step and end a partial refresh; SkipMatching; bake time; AutoRollback when a
  new instance is unhealthy or a gating CloudWatch alarm is in ALARM; errors
  InstanceRefreshInProgress, ActiveInstanceRefreshNotFound, IrreversibleInstanceRefresh.
  The model is written from AWS's documentation and imports nothing of golden's release
  engine (an import-linter contract), so the release tests can catch golden's mistakes.
- EnableImageDeprecation / DisableImageDeprecation (DescribeImages shows DeprecationTime).
- EnableImageDeregistrationProtection / DisableImageDeregistrationProtection (with the
  24-hour cooldown), DeregistrationProtection in DescribeImages, DeregisterImage refused
  for a protected AMI; DescribeImages leaves disabled AMIs out unless IncludeDisabled
  (moto's DisableImage/EnableImage set the state) (emulator/image_lifecycle.py).
- Amazon Inspector Scan's ScanSbom (emulator/inspector_scan.py), answered from a report
  a test records: request checked as documented (CycloneDX 1.5, at most 2000
  components), the recorded vulnerabilities that affect the SBOM's components returned
  with Inspector's count properties. No vulnerability data of its own.
- Canonical's Ubuntu 22.04 (jammy) server images in every region (emulator/
  canonical_images.py): amd64 (x86_64) and arm64, two builds each, owner 099720109477,
  public, ebs root, hvm, named ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-<arch>-server-
  YYYYMMDD, next to moto's own default images (which stop at 16.04). The bake template's
  default source_ami_filter finds them unchanged.
Fixed
- CreateLaunchTemplateVersion honours SourceVersion (top-level parameters inherited) and
  stores UserData so that group launches work.
- Group launches use the group's own launch-template version (ImageId, UserData, block
  devices, security groups, tags), not $Default, and spread over the group's subnets;
  DescribeAutoScalingGroups/Instances report each instance's own template version.
- RunInstances with a LaunchTemplate outside any group (a one-off task's instance, such
  as a release's migration) reaches the runtime like a group launch (its version's user
  data), and so does its TerminateInstances; without a template it stays a record.
- Target health: terminated instances show "draining", instances declared unhealthy show
  "unhealthy" (moto keeps every registered target "healthy").
- PutScalingPolicy answers PolicyARN (moto's PolicyArn is dropped by botocore).
- SSM Run Command (emulator/run_command.py) replaces moto's: SendCommand reaches only the
  InstanceIds or Targets it names (running instances; InvalidInstanceId otherwise),
  honours MaxConcurrency and MaxErrors, and each invocation ends as a test said
  (emulator/ssm_outcomes.py): Success, Failed (response code, stdout, stderr),
  Undeliverable, execution or delivery timeout. Added ListCommandInvocations (Details)
  and CancelCommand; GetCommandInvocation and ListCommands report Pending, InProgress,
  Success, Failed, TimedOut, Cancelled with AWS's StatusDetails (Undeliverable, Delivery
  Timed Out, Execution Timed Out, Incomplete) and output limits (24,000 / 2,500 chars).
- SSM DescribeInstanceInformation (moto lacks it; emulator/ssm_api.py): the running
  instances as managed nodes (PingStatus Online, ResourceType EC2Instance), stopped and
  terminated ones left out, filters InstanceIds, PingStatus, ResourceType, PlatformTypes
  (Filters or the legacy InstanceInformationFilterList, not both), InvalidInstanceId for
  an id EC2 does not know.
- CloudFormation (emulator/stacks.py, cfn_parsing.py, cfn_models.py, cfn_resources.py):
  change sets as the API reference describes them (no changes: Status FAILED with AWS's
  reason; parameters and IAM capabilities checked; Add/Modify/Remove with parameters and
  conditions followed), one event per resource, a failed creation rolled back to
  ROLLBACK_COMPLETE and a failed update to UPDATE_ROLLBACK_COMPLETE, DeletionPolicy
  (Retain, RetainExceptOnCreate, Snapshot, RDS's default Snapshot) and DELETE_FAILED,
  ssm/ssm-secure dynamic references, the resource types moto lacks (CloudWatch alarms,
  ElastiCache subnet and replication groups, bucket policies), and the properties,
  attributes, updates and deletions moto's own types skip. Not modelled: time (each
  operation ends within its call), Replacement and change details, drift, stack
  policies, nested stacks, resource import.
Test controls (HTTP, JSON)
- POST /moto-api/golden/health {"image_id"|"instance_id": ..., "state": "unhealthy"}:
  instances from that image (or that instance) fail their health checks.
- POST /moto-api/golden/faults {"action", "code", "times", "match", "service", "message"}:
  the next TIMES calls of that action answer that AWS error (HTTP 400, the service's
  error format) and do nothing, for the errors AWS documents a correct client can meet:
  eventual consistency (InvalidAMIID.NotFound right after CreateImage/CopyImage,
  InvalidSnapshot.InUse from DeleteSnapshot right after DeregisterImage,
  InvalidLaunchTemplateId.VersionNotFound right after CreateLaunchTemplateVersion),
  ResourceContention; and for CloudFormation "CreateResource" / "DeleteResource" with
  "match": {"LogicalResourceId": ...}: that resource of the next stack operation fails
  with the code and message. GET .../faults lists what is left, POST .../faults/clear forgets
  them (emulator/faults.py).
- GET /moto-api/golden/requests, POST /moto-api/golden/requests/clear: every AWS request
  received (service, action, region, the access key id that signed it, as CloudTrail's
  userIdentity.accessKeyId; mutating; "fault" when a declared fault answered), also
  written to --record FILE. Calls in
  the query protocol (EC2, Auto Scaling, ELBv2, CloudWatch, IAM, STS) carry their
  parameters as ``params`` (flat names as sent, e.g. BlockDeviceMapping.1.Ebs.VolumeType;
  names that could hold a secret masked, values cut at 2,048 characters); JSON-protocol
  and REST bodies (SSM, S3, ...) are never recorded. The newest 100,000 requests are kept.
- POST /moto-api/golden/inspector-scan {"vulnerabilities": [...]}: the report ScanSbom
  answers (GET shows it, POST .../inspector-scan/clear forgets it).
- GET/POST /moto-api/golden/config {"step_seconds", "time_scale"}.
- POST /moto-api/golden/ssm/outcome {"instance_id", "status", "stdout", "stderr",
  "response_code", "steps", "match"}: what that instance answers to Run Command (to
  commands containing ``match``, when given; "instance_id": "*" for every instance
  without a rule of its own, e.g. one the code under test launches), POST
  .../ssm/outcome/clear forgets them all; GET /moto-api/golden/ssm: the rules and every
  command's timeline (step each invocation started and ended, most ever in progress).
- POST /moto-api/reset (moto's) also clears all of the above.
- moto's own recorder works too (MOTO_ENABLE_RECORDING / MOTO_RECORDER_FILEPATH).

What it does NOT model
- Time: a refresh moves one step per DescribeInstanceRefreshes call (at most once per
  step_seconds); instance warmup, checkpoint delay and bake time are multiplied by
  time_scale (default 0; a warm-up still takes one step). Nothing happens between polls.
- Refresh details AWS does not document: maximum healthy capacity is rounded down; a
  gating alarm that does not exist is ignored; a rollback replaces one batch per step
  without warm-up and first terminates new instances launched above the desired
  capacity; checkpoint percentages count the instances the refresh replaces.
- Real health checks: instances are healthy unless declared otherwise; the Auto Scaling
  group does not replace unhealthy instances outside a refresh; lifecycle hooks, warm
  pools, scale-in protection and standby are ignored by refreshes; no capacity limits.
- Instances are not computers: user data is stored, never executed; MetadataOptions and
  IamInstanceProfile are stored on the template but not applied to instances.
- A rollback restores the launch template version only (no DesiredConfiguration of
  mixed instances policies); MixedInstancesPolicy is not supported by the refresh model.
- Alarms change state only through SetAlarmState (no metric evaluation).
- AMI lifecycle: a disabled AMI still launches instances; a refused DeregisterImage
  answers OperationNotPermitted (AWS does not document the code); the deregistration
  protection cooldown lasts 24 real hours. ScanSbom knows no vulnerabilities but the
  recorded ones and only the CYCLONE_DX_1_5 output format.
- IAM is not enforced; any credentials are accepted; one account (123456789012).
- Images and snapshots are records, not disks: CopyImage ignores Encrypted and KmsKeyId
  (copies are reported unencrypted) and the copy's Description; CreateImage does not
  need a stopped instance; stopping or terminating an instance runs nothing anywhere (a
  Packer bake's SSH "instance" is whatever ssh_host points at). Canonical images carry
  fixed ids (not AWS's), a 15 GiB standard root mapping (AWS: 8 GiB gp2), no product
  codes, TPM or IMDS support attributes.
- Run Command executes nothing: outcomes are the test's rules, one step per read call
  that names the command (at most once per step_seconds), no real durations;
  ExecutionTimeout and the delivery TimeoutSeconds are stored, never counted down; the
  command's ExpiresAfter is informative. Only AWS-RunShellScript is accepted; Targets keys
  other than InstanceIds, tag:KEY, tag-key (resource groups) are refused; several
  Targets must all match (AND). Instances need no SSM agent or instance profile: every
  running instance is a managed node whose agent is Online at once (no registration
  delay, never ConnectionLost); Delayed, Terminated, Access Denied and
  Invalid Platform never happen; no S3 or CloudWatch output, no notifications, no rate
  exceeded. Assumptions where the documentation is silent: invocations that MaxErrors
  stopped end Cancelled, Undeliverable is Status Failed, Incomplete is Status Failed.

Python API: :class:`Emulator` starts it as a subprocess (what the tests use) or in a
thread of the calling process, and wraps the control endpoints.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

__all__ = ["Emulator", "free_port"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Emulator:
    """Handle on a running emulator. ``with Emulator.subprocess() as emu: emu.url``."""

    def __init__(self, port: int, *, record: str | None = None):
        self.port = port
        self.record = record
        self.url = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen | None = None
        self._server = None
        self._thread = None

    # -- starting and stopping -------------------------------------------------------------
    @classmethod
    def subprocess(
        cls,
        port: int | None = None,
        *,
        record: str | None = None,
        step_seconds: float | None = None,
        time_scale: float | None = None,
        log_file=None,
        timeout: float = 30.0,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> Emulator:
        """Start ``python -m autoscaling.emulator`` with the given flags (``args`` adds
        any other, e.g. --runtime) and wait until it answers."""
        emu = cls(port or free_port(), record=record)
        cmd = [sys.executable, "-m", "autoscaling.emulator", "--port", str(emu.port)]
        if record:
            cmd += ["--record", record]
        if step_seconds is not None:
            cmd += ["--step-seconds", str(step_seconds)]
        if time_scale is not None:
            cmd += ["--time-scale", str(time_scale)]
        emu._process = subprocess.Popen(
            [*cmd, *args],
            stdout=log_file or subprocess.DEVNULL,
            stderr=log_file or subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        emu.wait_ready(timeout)
        return emu

    @classmethod
    def in_thread(cls, port: int | None = None, *, record: str | None = None) -> Emulator:
        import threading

        from autoscaling.emulator import server

        emu = cls(port or free_port(), record=record)
        emu._server = server.make(emu.port, record)
        emu._thread = threading.Thread(target=emu._server.serve_forever, daemon=True)
        emu._thread.start()
        emu.wait_ready(10.0)
        return emu

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"emulator exited with {self._process.returncode}")
            try:
                self._call("GET", "config")
                return
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"emulator not ready on {self.url} after {timeout}s"
                    ) from None
                time.sleep(0.1)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- controls ---------------------------------------------------------------------------
    def _call(
        self, method: str, name: str, payload: dict | None = None, *, path: str | None = None
    ):
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            self.url + (path or f"/moto-api/golden/{name}"),
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def reset(self) -> None:
        self._call("POST", "", path="/moto-api/reset")

    def set_health(
        self,
        *,
        image_id: str | None = None,
        instance_id: str | None = None,
        state: str = "unhealthy",
    ) -> dict:
        return self._call(
            "POST", "health", {"image_id": image_id, "instance_id": instance_id, "state": state}
        )

    def fault(self, action: str, code: str, times: int = 1, **fields) -> list[dict]:
        """The next ``times`` calls of ``action`` answer the AWS error ``code`` (see
        emulator/faults.py; ``match``, ``service``, ``message`` narrow or word it)."""
        rule = {"action": action, "code": code, "times": times, **fields}
        return self._call("POST", "faults", rule)

    def faults(self) -> list[dict]:
        return self._call("GET", "faults")

    def configure(self, **values: float) -> dict:
        return self._call("POST", "config", values)

    def requests(self) -> list[dict]:
        return self._call("GET", "requests")

    def mutating_requests(self) -> list[dict]:
        return [r for r in self.requests() if r["mutating"]]

    def clear_requests(self) -> None:
        self._call("POST", "requests/clear", {})

    def scan_report(self, vulnerabilities: list[dict]) -> dict:
        """What ScanSbom reports next (emulator/inspector_scan.py)."""
        return self._call("POST", "inspector-scan", {"vulnerabilities": vulnerabilities})

    def ssm_outcome(self, instance_id: str, status: str = "Success", **fields) -> dict:
        """What ``instance_id`` answers to Run Command (see emulator/ssm_outcomes.py)."""
        return self._call(
            "POST", "ssm/outcome", {"instance_id": instance_id, "status": status, **fields}
        )

    def ssm_clear_outcomes(self) -> None:
        self._call("POST", "ssm/outcome/clear", {})

    def ssm_state(self) -> dict:
        """Outcome rules and every command's timeline (rate control is checkable)."""
        return self._call("GET", "ssm")
