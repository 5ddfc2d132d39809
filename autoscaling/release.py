"""`golden release ENV --role R --ami AMI|latest`: roll an AMI through a group.

1. read (describe only) and pre-flight (preflight.decide); a refusal changes nothing. The
   release's identity is its whole launch data (the group's version with the new ImageId,
   freshly rendered user data and IMDSv2 options), never the AMI alone;
2. when the group already runs this release (same launch data, every instance on it and
   healthy) nothing is done: a retried release is a no-op;
3. else a launch-template version: one that already holds exactly this launch data is
   reused (the group's own, or one an interrupted run left), otherwise a new one is
   created from the group's current one (SourceVersion) and read back before use;
4. with a migration (--migrate, or the role's migration setting), the app's migration
   command on a one-off instance of that version, outside the group (autoscaling/
   migration.py); a failed one stops here, the group untouched and no refresh started;
5. StartInstanceRefresh naming that version only in DesiredConfiguration, AutoRollback on;
   or attach to the refresh an earlier run of the same release started (its migration
   ran before it started: none is run again, nor when nothing rolls);
6. wait (refresh.wait), then verify every InService instance runs the AMI and version and
   is healthy in its target groups; only then record it as known-good and make it the
   template's default. When AWS reports success but this check fails, the group is not
   left silently on the unverified version: the error names the state and the exact
   rollback command. Any other end: OperationFailed with AWS's reason and what the
   group runs now.

Calls made right after the call that created what they use wait out AWS's documented
eventual-consistency errors with bounded back-off (golden.core.retry).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from datetime import datetime, timezone

from botocore.exceptions import ClientError
from golden.core import retry
from golden.core import tags as T
from golden.core.errors import ConfigError, OperationFailed, PreflightError

from autoscaling import (
    awsstate,
    batches,
    images,
    knowngood,
    migration,
    preflight,
    refresh,
    templates,
)
from autoscaling import verification as check
from autoscaling.aws import Clients
from autoscaling.fleet import instance_rows, running_summary, verify
from autoscaling.progress import Reporter
from autoscaling.settings import ENV_DIR, Environment, Role

verification_problems = check.problems  # the pure check, under its historical name


@dataclass
class Options:
    dry_run: bool = False
    timing: refresh.Timing | None = None  # None: derived from the role's timeout
    verify_attempts: int = 10
    reporter: Reporter = field(default_factory=Reporter)
    backoff: retry.Backoff | None = None  # None: golden.core.retry.DEFAULT
    migration: migration.Migration | None = None  # run before the refresh (migration.py)


def timing_for(role: Role, timing: refresh.Timing | None) -> refresh.Timing:
    if timing is not None:
        return timing
    return refresh.Timing(timeout=role.refresh["timeout_minutes"] * 60)


def env_ref(env: Environment) -> str:
    """ENV as the operator types it in a command: the name when the settings are the
    repository's environments/NAME.yaml, else the path of the file."""
    try:
        if env.path.resolve() == (ENV_DIR / f"{env.name}.yaml").resolve():
            return env.name
    except OSError:
        pass
    return str(env.path)


def resolve_image(
    env: Environment, clients: Clients, role: Role, ami: str, now: datetime
) -> tuple[str, dict | None]:
    if ami == "latest":
        image = images.pick_latest(
            images.role_images(clients.ec2, role.name), role.name, env.region, now
        )
        if image is None:
            raise PreflightError(
                f"release refused, nothing was changed: no available, tested, "
                f"non-deprecated {role.name} AMI in {env.region}"
            )
        return image["ImageId"], image
    if not images.AMI_ID.match(ami):
        raise ConfigError(
            f"--ami: expected an AMI id like ami-0123456789abcdef0 or 'latest', got {ami!r}"
        )
    return ami, images.describe_image(clients.ec2, ami)


def _group_version(ec2, template: dict | None, group: dict | None) -> dict | None:
    spec = (group or {}).get("LaunchTemplate") or {}
    if template and spec.get("Version") and not str(spec["Version"]).startswith("$"):
        return awsstate.template_version(ec2, template["LaunchTemplateId"], spec["Version"])
    return None


def read_inputs(
    env: Environment,
    clients: Clients,
    role: Role,
    ami_id: str,
    image: dict | None,
    user_data: str,
) -> preflight.ReleaseInputs:
    """Everything pre-flight decides on, read with describe calls only."""
    ec2, asg = clients.ec2, clients.autoscaling
    template = awsstate.launch_template(ec2, role.template)
    group = awsstate.group(asg, role.group)
    group_version = _group_version(ec2, template, group)
    expected = None
    if group_version is not None:
        expected = templates.release_data(group_version["LaunchTemplateData"], ami_id, user_data)
    active = active_data = None
    if group is not None:
        active = preflight.active_refresh(awsstate.refreshes(asg, role.group))
        version = preflight.desired_version(active) if active else None
        if version and template is not None:
            data = awsstate.template_version(ec2, template["LaunchTemplateId"], version)
            active_data = (data or {}).get("LaunchTemplateData")
    return preflight.ReleaseInputs(
        env=env.name,
        role=role.name,
        region=env.region,
        ami_id=ami_id,
        template_name=role.template,
        group_name=role.group,
        image=image,
        template=template,
        group=group,
        group_version=group_version,
        active=active,
        active_data=active_data,
        expected=expected,
        alarms=awsstate.alarm_states(clients.cloudwatch, list(role["alarms"])),
        rows=instance_rows(clients, role) if group is not None else [],
        known_good=knowngood.read(template or {}),
        env_ref=env_ref(env),
    )


def _reusable_version(versions: list[dict], current: int, expected: dict) -> int | None:
    """The newest version other than CURRENT whose launch data is exactly EXPECTED (one a
    killed run created, or an earlier identical one); None when there is none."""
    for version in sorted(versions, key=lambda v: v["VersionNumber"], reverse=True):
        if version["VersionNumber"] != current and not templates.identity_differences(
            version.get("LaunchTemplateData", {}), expected
        ):
            return version["VersionNumber"]
    return None


def release(
    env: Environment, clients: Clients, role_name: str, ami: str, opts: Options | None = None
) -> dict:
    """Release AMI ("latest" or an id) to ROLE_NAME's group in ENV (see the module
    docstring). Returns the report dict; raises ConfigError (bad --ami), PreflightError
    (refused, nothing changed) or OperationFailed (ran and failed; the message says
    what the group runs now)."""
    opts = opts or Options()
    role = env.role(role_name)
    now = datetime.now(timezone.utc)
    user_data = templates.user_data(env, role.name)  # a settings error stops us here
    ami_id, image = resolve_image(env, clients, role, ami, now)
    opts.reporter.info(
        f"release {ami_id} to {env.name}/{role.name} (group {role.group}, region {env.region})"
    )
    inputs = read_inputs(env, clients, role, ami_id, image, user_data)
    decision = preflight.decide(inputs, now)
    base = {
        "environment": env.name,
        "role": role.name,
        "group": role.group,
        "ami": ami_id,
        "launch_template": role.template,
        "previous_version": int(inputs.group["LaunchTemplate"]["Version"]),
    }
    if opts.migration and decision.action != "start":
        reason = migration.NOT_RUN[decision.action]
        base["migration"] = {"ran": False, "reason": reason}
        opts.reporter.info(f"migration: not run: {reason}")
    run = _Run(env, clients, role, ami_id, inputs, opts, base)
    if decision.action in ("none", "record"):
        return run.already_released(decision)
    if decision.action == "attach":
        return run.attach(decision)
    return run.start(decision, user_data)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class _Run:
    """One release run after pre-flight: what it acts on and how it reports."""

    env: Environment
    clients: Clients
    role: Role
    ami_id: str
    inputs: preflight.ReleaseInputs
    opts: Options
    base: dict

    @property
    def template_id(self) -> str:
        return self.inputs.template["LaunchTemplateId"]

    def say(self, message: str) -> None:
        self.opts.reporter.info(message)

    def already_released(self, decision: preflight.Decision) -> dict:
        version = decision.desired_version
        result = {**self.base, "action": decision.action, "new_version": version}
        if decision.action == "none":
            self.say(
                f"{self.role.group} already runs this release: {self.ami_id} from launch "
                f"template version {version} (same launch data; the default and known-good), "
                f"every instance checked; nothing to do"
            )
            return {**result, "status": "AlreadyReleased", "instances": self.inputs.rows}
        self.say(
            f"{self.role.group} already runs this release ({self.ami_id}, launch template "
            f"version {version}) and it checks out, but an earlier run stopped before "
            f"recording it: recording it as known-good and the default"
        )
        if self.opts.dry_run:
            return {**result, "dry_run": True}
        return {**result, **self.record_success(version, history_on_success=True)}

    def attach(self, decision: preflight.Decision) -> dict:
        self.say(
            f"attaching to instance refresh {decision.refresh_id} already running for this "
            f"release (started {self.inputs.active.get('StartTime')}, same launch data); "
            f"starting nothing new"
        )
        if self.opts.dry_run:
            return {
                **self.base,
                "dry_run": True,
                "action": "attach",
                "instance_refresh_id": decision.refresh_id,
            }
        return run_refresh(
            self.clients,
            self.role,
            self.template_id,
            decision.desired_version,
            self.ami_id,
            decision.refresh_id,
            self.opts,
            base={**self.base, "attached": True, "env_ref": env_ref(self.env)},
            history_on_success=True,
        )

    def _plan(self, reuse: int | None) -> dict:
        desired = self.inputs.group.get("DesiredCapacity") or 0
        ref = self.role.refresh
        current = self.inputs.group_version["LaunchTemplateData"]
        prefs = refresh.start_request(self.role, self.template_id, reuse or 0)["Preferences"]
        changes = templates.differences(current, self.inputs.expected)
        version = reuse or "(new)"
        return {
            **self.base,
            **migration.release_plan(self.opts.migration, self.role, version, self.inputs.group),
            "new_version": version,
            "changes": {k: [b, a] for k, (b, a) in changes.items()}
            | {"ImageId": [current.get("ImageId"), self.ami_id]},
            "batches": batches.batches(
                desired,
                desired,
                ref["min_healthy_percentage"],
                ref["max_healthy_percentage"],
                prefs.get("CheckpointPercentages", []),
            ),
            "preferences": prefs,
        }

    def start(self, decision: preflight.Decision, user_data: str) -> dict:
        current = self.base["previous_version"]
        if decision.reuse_group_version:
            reuse = current
        else:
            versions = awsstate.template_versions(self.clients.ec2, self.template_id)
            reuse = _reusable_version(versions, current, self.inputs.expected)
        plan = self._plan(reuse)
        if self.opts.dry_run:
            self.say("dry run: nothing was changed")
            return {**plan, "dry_run": True, "action": "start"}
        if not self.inputs.known_good:
            # The version the group ran before its first release is the first known-good one.
            knowngood.write(self.clients.ec2, self.template_id, [current])
        if reuse == current:
            self.say(
                f"the group's own launch template version {current} already holds this "
                f"release; refreshing the instances that do not run it"
            )
        elif reuse:
            self.say(f"reusing launch template version {reuse}, which holds exactly this release")
        new_version = reuse or self.create_version(current, user_data)
        migrated = {"migration": self.migrate(new_version)} if self.opts.migration else {}
        refresh_id = self.start_refresh(new_version)
        return run_refresh(
            self.clients,
            self.role,
            self.template_id,
            new_version,
            self.ami_id,
            refresh_id,
            self.opts,
            base={
                **self.base,
                **migrated,
                "new_version": new_version,
                "env_ref": env_ref(self.env),
            },
            history_on_success=True,
        )

    def migrate(self, version: int) -> dict:
        """The migration before the refresh of VERSION (migration.before_refresh)."""
        return migration.before_refresh(
            self.clients, self.role, self.template_id, version, self.inputs.group,
            self.opts.migration, timing_for(self.role, self.opts.timing), self.opts.reporter,
        )  # fmt: skip

    def create_version(self, current: int, user_data: str) -> int:
        """A new version from CURRENT with this release's data, read back (EC2 may not
        show it at once) and checked before anything uses it."""
        ec2 = self.clients.ec2
        made = ec2.create_launch_template_version(
            LaunchTemplateId=self.template_id,
            SourceVersion=str(current),
            VersionDescription=f"golden release {self.ami_id} by {_who()}",
            LaunchTemplateData=templates.release_overrides(self.ami_id, user_data),
        )["LaunchTemplateVersion"]
        number = made["VersionNumber"]
        stored = retry.describe(
            lambda: awsstate.template_version(ec2, self.template_id, number),
            retry.TEMPLATE_VERSION_NOT_VISIBLE,
            self.opts.backoff,
        )
        where = f"launch template {self.role.template} version {number}"
        if stored is None:
            raise OperationFailed(
                f"{where} was created but EC2 does not show it yet (waited "
                f"{(self.opts.backoff or retry.DEFAULT).budget():.0f}s); no refresh was "
                f"started. Run the same release again: it reuses that version"
            )
        data = stored.get("LaunchTemplateData", {})
        asked = templates.release_overrides(self.ami_id, user_data)
        problems = templates.security_problems(data) + [
            f"{key} differs from what was asked"
            for key in templates.identity_differences({k: data.get(k) for k in asked}, asked)
        ]
        if problems:
            raise OperationFailed(f"{where}: " + "; ".join(problems) + " (no refresh was started)")
        self.say(f"created {where} (from version {current})")
        return number

    def start_refresh(self, version: int) -> str:
        request = refresh.start_request(self.role, self.template_id, version)
        try:
            refresh_id = retry.call(
                lambda: self.clients.autoscaling.start_instance_refresh(**request)[
                    "InstanceRefreshId"
                ],
                retry.RESOURCE_CONTENTION,
                self.opts.backoff,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "InstanceRefreshInProgress":
                raise PreflightError(
                    f"another instance refresh started on {self.role.group} a moment ago "
                    f"(another operator?): {exc.response['Error']['Message']} Launch "
                    f"template version {version} is ready but not used."
                ) from None
            raise
        self.say(f"started instance refresh {refresh_id}: {self.role.group} -> version {version}")
        return refresh_id

    def record_success(self, version: int, history_on_success: bool) -> dict:
        return record_success(
            self.clients,
            self.role,
            self.template_id,
            version,
            self.opts,
            history_on_success=history_on_success,
            rows=self.inputs.rows,
            ami_id=self.ami_id,
        )


def record_success(
    clients: Clients,
    role: Role,
    template_id: str,
    version: int,
    opts: Options,
    *,
    history_on_success: bool,
    bad_version: int | None = None,
    rows: list[dict] | None = None,
    ami_id: str | None = None,
) -> dict:
    """Record a verified VERSION: first the known-good history (tag on the template), then
    the template's default, then deregistration protection on its AMI (``ami_id``); a
    step already done is skipped. Both are tried; what failed
    is reported with the command that finishes it by hand (OperationFailed)."""
    ec2 = clients.ec2
    template = awsstate.launch_template(ec2, role.template) or {}
    recorded = knowngood.read(template)
    history = (
        knowngood.after_success(recorded, version)
        if history_on_success
        else knowngood.after_rollback(recorded, bad_version, version)
    )
    unfinished = []
    steps = []
    if knowngood.render(history) != knowngood.render(recorded):
        steps.append(
            (
                lambda: knowngood.write(ec2, template_id, history),
                f"aws ec2 create-tags --resources {template_id} --tags "
                f'"Key={T.KNOWN_GOOD},Value={knowngood.render(history)}"',
            )
        )
    if template.get("DefaultVersionNumber") != version:
        steps.append(
            (
                lambda: ec2.modify_launch_template(
                    LaunchTemplateId=template_id, DefaultVersion=str(version)
                ),
                f"aws ec2 modify-launch-template --launch-template-id {template_id} "
                f"--default-version {version}",
            )
        )
    # A known-good AMI is what a rollback goes back to: protect it from deregistration.
    image = images.describe_image(ec2, ami_id) if ami_id else None
    if image is not None and not images.is_protected(image):
        steps.append(
            (
                lambda: ec2.enable_image_deregistration_protection(ImageId=ami_id),
                f"aws ec2 enable-image-deregistration-protection --image-id {ami_id}",
            )
        )
    for step, by_hand in steps:
        try:
            retry.call(step, retry.TEMPLATE_VERSION_NOT_VISIBLE, opts.backoff)
        except ClientError as exc:
            unfinished.append(f"{exc.response['Error']['Code']}; finish it with: {by_hand}")
    if unfinished:
        raise OperationFailed(
            f"every instance of {role.group} runs launch template version {version} and "
            f"checks out, but recording it did not finish:\n  - " + "\n  - ".join(unfinished)
        )
    opts.reporter.info(
        f"done: every instance of {role.group} runs {ami_id or 'its AMI'} (launch template "
        f"version {version}, now the default and recorded as known-good)"
    )
    return {
        "default_version": version,
        "known_good_versions": history,
        "instances": rows if rows is not None else instance_rows(clients, role),
    }


def run_refresh(
    clients: Clients,
    role: Role,
    template_id: str,
    version: int | None,
    ami_id: str,
    refresh_id: str,
    opts: Options,
    *,
    base: dict,
    history_on_success: bool,
    bad_version: int | None = None,
) -> dict:
    """Wait for REFRESH_ID, verify the group, then record VERSION (see record_success).
    BASE carries "env_ref" (ENV as the operator types it) for suggested commands."""
    reporter = opts.reporter
    asg = clients.autoscaling

    def describe() -> dict | None:
        items = awsstate.refreshes(asg, role.group, [refresh_id])
        return items[0] if items else None

    reporter.refresh_started(f"instance refresh {refresh_id}")
    try:
        final = refresh.wait(describe, timing_for(role, opts.timing), reporter.refresh_update)
    finally:
        reporter.refresh_done()
    if version is None:
        version = int(preflight.desired_version(final))
    status, reason = final.get("Status"), final.get("StatusReason") or "no reason given"
    result = {
        **{k: v for k, v in base.items() if k != "env_ref"},
        "instance_refresh_id": refresh_id,
        "status": status,
        "status_reason": final.get("StatusReason"),
        "new_version": version,
    }
    if status != "Successful":
        running = running_summary(clients, role)
        raise OperationFailed(
            f"instance refresh {refresh_id} ended {status}: {reason}\n"
            f"the group {role.group} now runs: {running}"
        )
    problems = verify(
        clients,
        role,
        ami_id,
        version,
        timing_for(role, opts.timing),
        opts.verify_attempts,
        expect_instances=history_on_success,
    )
    if problems:
        found = _Unverified(version, ami_id, refresh_id, problems, bad_version)
        raise found.error(clients, role, template_id, base)
    recorded = record_success(
        clients,
        role,
        template_id,
        version,
        opts,
        history_on_success=history_on_success,
        bad_version=bad_version,
        ami_id=ami_id,
    )
    return {**result, **recorded}


@dataclass
class _Unverified:
    """AWS reported success but golden's check failed: the group now launches VERSION,
    which is neither the default nor known-good."""

    version: int
    ami_id: str
    refresh_id: str
    problems: list[str]
    bad_version: int | None  # set after a rollback: the version rolled back from

    def error(self, clients: Clients, role: Role, template_id: str, base: dict) -> OperationFailed:
        """Name that state and the command that goes back. After a rollback the bad
        version leaves the history first, so the suggested rollback cannot go to it."""
        ec2 = clients.ec2
        template = awsstate.launch_template(ec2, role.template) or {}
        history = knowngood.read(template)
        if self.bad_version is not None and self.bad_version in history:
            history = [v for v in history if v != self.bad_version]
            try:
                knowngood.write(ec2, template_id, history)
            except ClientError:
                history = knowngood.read(template)
        target = knowngood.previous_good(history, self.version)
        ref = base.get("env_ref") or base.get("environment")
        back = (
            "no earlier known-good version is recorded: release a chosen AMI with `golden release`"
            if target is None
            else f"go back to known-good version {target} with: "
            f"golden rollback {ref} --role {role.name}"
        )
        return OperationFailed(
            f"instance refresh {self.refresh_id} reported Successful, but golden's own check "
            f"of the group failed:\n  - " + "\n  - ".join(self.problems) + f"\nthe group "
            f"{role.group} now launches launch template version {self.version} "
            f"({self.ami_id}), which is NOT verified: it is not the template's default (still "
            f"{template.get('DefaultVersionNumber')}) and not recorded as known-good. Look "
            f"with: golden status {ref} --role {role.name}; {back}"
        )
