"""`golden rehearse`: a release rehearsal on this machine, from nothing to a table.

In order, each step bounded in time:
1. pre-flight: docker, haproxy and locust present; the listener and emulator ports free;
   no container or process of an earlier rehearsal left (`--down` removes them);
2. the local stand-ins (PostgreSQL, Redis, Chroma) and the twin image, as `make local`;
3. the images: the twin image as v1, then a real bake per other variant, each on the
   image before it (plan.Variant.starts_from);
4. the AWS emulator in its own process with the container runtime
   (golden.rehearsal.instances), listening on 127.0.0.1 and on the twin network's
   gateway (the instances' AWS endpoint: S3, SSM), refreshes and alarms in real time;
5. its seed: network, the target group with its health check and deregistration delay,
   the gating alarm on the ALB's 5xx metric, buckets, the instances' secrets in SSM, an
   AMI per image;
6. HAProxy on 127.0.0.1 with a backend per target group; the ALB metric publisher;
7. `golden env apply` of the rehearsal settings: the group launches two v1 instances;
8. the scenarios, each under load; then everything above is removed (also on Ctrl-C or
   a failure), unless --keep.

What is real and what is emulated: docs/rehearsal.md."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from autoscaling.aws import Clients
from autoscaling.emulator import Emulator
from autoscaling.emulator.seed import register_ami, seed_network
from autoscaling.settings import load as load_settings
from golden.core import containers, ports, provenance
from golden.core.errors import OperationFailed, PreflightError
from golden.core.shell import eprint, run
from golden.rehearsal import images, plan, scenarios
from golden.rehearsal.haproxy import Balancer, BalancerSpec, HealthCheck, TargetGroup
from golden.rehearsal.instances import CONFIG_ENV, RUN_LABEL, RuntimeConfig
from golden.rehearsal.traffic import FleetMonitor, MetricPublisher
from golden.twin import build as twin
from golden.twin import localstack

STATE = provenance.REPO / ".state" / plan.STATE_DIRNAME
# Emulator-only credentials: a rehearsal never talks to AWS, and never with the user's keys.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "rehearsal",
    "AWS_SECRET_ACCESS_KEY": "rehearsal",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "GOLDEN_AWS_MAX_ATTEMPTS": "3",
}


@dataclass(frozen=True)
class Options:
    names: plan.Names
    scenarios: tuple[str, ...]
    users: int = 50
    keep: bool = False


# -- pre-flight and clean-up -----------------------------------------------------------------
def _pid_alive(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        pid = int(path.read_text().split()[0])
        os.kill(pid, 0)
        return pid
    return None


def leftovers(state: Path = STATE) -> dict[str, list[str]]:
    """What an earlier rehearsal left: its containers and its processes (pid files)."""
    proc = run(["docker", "ps", "-a", "--filter", f"label={RUN_LABEL}", "--format",
                "{{.Names}}"], check=False)  # fmt: skip
    names = [n for n in proc.stdout.decode().split() if n]
    pids = [f"{p.stem} (pid {_pid_alive(p)})" for p in sorted(state.glob("*.pid"))
            if _pid_alive(p)]  # fmt: skip
    return {"containers": names, "processes": pids}


def preflight(opts: Options, state: Path = STATE) -> None:
    """Every check before anything starts; PreflightError naming each problem."""
    problems = []
    for tool, hint in (("docker", "apt-get install docker.io"),
                       ("haproxy", "apt-get install haproxy")):  # fmt: skip
        if shutil.which(tool) is None:
            problems.append(f"{tool} not found on PATH ({hint})")
    if not (Path(sys.executable).parent / "locust").exists():
        problems.append("locust not found in golden's virtualenv (make setup)")
    for label, port in opts.names.ports.items():
        if not ports.loopback_port_free(port):
            problems.append(f"127.0.0.1:{port} ({label}) is taken: choose --port")
    if shutil.which("docker"):
        left = leftovers(state)
        if left["containers"] or left["processes"]:
            problems.append(
                f"an earlier rehearsal left {', '.join(left['containers'] + left['processes'])}: "
                f"run `golden rehearse --down`"
            )
    if problems:
        raise PreflightError("rehearsal refused, nothing was started:\n  - "
                             + "\n  - ".join(problems))  # fmt: skip


def down(state: Path = STATE) -> dict:
    """Remove everything a rehearsal started (containers by label, processes by pid file);
    the baked images and the stand-ins stay (make local-down stops those)."""
    removed = []
    for pidfile in sorted(state.glob("*.pid")):
        pid = _pid_alive(pidfile)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    time.sleep(0.1)
                    os.kill(pid, 0)
                os.kill(pid, signal.SIGKILL)
            removed.append(f"{pidfile.stem} (pid {pid})")
        pidfile.unlink(missing_ok=True)
    for name in leftovers(state)["containers"]:
        containers.remove_container(name)
        removed.append(name)
    return {"removed": removed}


@contextlib.contextmanager
def _interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP clean up like Ctrl-C does."""

    def handler(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# -- set-up ------------------------------------------------------------------------------------
def _target_group_spec(elbv2, arn: str) -> TargetGroup:
    tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    attrs = {a["Key"]: a["Value"] for a in
             elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]}  # fmt: skip
    return TargetGroup(
        arn=arn, name=tg["TargetGroupName"], port=int(tg["Port"]),
        check=HealthCheck.from_target_group(tg),
        deregistration_delay=float(attrs.get("deregistration_delay.timeout_seconds", 300)),
    )  # fmt: skip


def seed(env, clients: Clients, secrets: dict[str, str]) -> dict:
    """Network and target group (seed_network), then what the rehearsal sets on top: the
    target group's health check and delay, the gating alarm, buckets, SSM secrets."""
    network = seed_network(env, clients)
    arn = network["target_groups"][plan.TARGET_GROUP]
    elbv2 = clients.elbv2
    elbv2.modify_target_group(TargetGroupArn=arn, **plan.HEALTH_CHECK)
    elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(plan.DEREGISTRATION_DELAY)}
    ])  # fmt: skip
    dimensions = [{"Name": "LoadBalancer", "Value": plan.LOAD_BALANCER},
                  {"Name": "TargetGroup", "Value": "targetgroup/" + arn.split(":targetgroup/")[-1]}]  # fmt: skip  # noqa: E501
    clients.cloudwatch.put_metric_alarm(AlarmName=plan.ALARM_5XX, Dimensions=dimensions,
                                        **plan.ALARM)  # fmt: skip
    s3 = clients._client("s3")
    for bucket in (env.raw["artifacts_bucket"], env.raw["instance"]["s3"]["bucket"]):
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
    ssm = clients._client("ssm")
    path = env.raw["instance"]["ssm_path"].rstrip("/")
    for name, value in secrets.items():
        ssm.put_parameter(Name=f"{path}/{name}", Value=value, Type="SecureString",
                          Overwrite=True)  # fmt: skip
    return {"target_group": arn, "dimensions": dimensions}


@dataclass
class Stack:
    """What set-up started (for the scenarios and for clean-up)."""

    run_id: str
    folder: Path
    emulator: Emulator | None = None
    balancer: Balancer | None = None
    publisher: MetricPublisher | None = None
    monitor: FleetMonitor | None = None
    images: dict[str, str] = field(default_factory=dict)  # variant label -> docker image id

    def stop(self) -> None:
        for part in (self.publisher, self.monitor):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        containers_left = leftovers(self.folder)["containers"]
        for name in containers_left:
            containers.remove_container(name)
        if self.balancer is not None:
            self.balancer.stop()
        if self.emulator is not None:
            self.emulator.stop()
        down(self.folder)


def _bake_images(opts: Options, folder: Path, ca: Path) -> dict[str, str]:
    """Docker image id per variant label: v1 is the twin image, the rest are baked, each
    on the tested image of the variant it starts from."""
    out = {}
    for variant in plan.variants_for(opts.scenarios):
        if not variant.baked:
            out[variant.label] = containers.image_inspect(twin.image_name("app"))["Id"]
        else:
            source = out[variant.starts_from] if variant.starts_from else None
            out[variant.label] = images.bake_variant(provenance.REPO, folder / "bakes", variant,
                                                     ca_bundle=ca, source_image=source)  # fmt: skip
    return out


def _start_emulator(stack: Stack, names: plan.Names, gateway: str) -> Emulator:
    log = open(stack.folder / "emulator.log", "w")  # noqa: SIM115 - the process's
    emulator = Emulator.subprocess(
        names.emulator_port, step_seconds=1, time_scale=1, log_file=log,
        args=("--also-host", gateway, "--tick-seconds", "1", "--evaluate-alarms",
              "--runtime", "golden.rehearsal.instances:from_environment"),
        env={CONFIG_ENV: str(stack.folder / "runtime.json"), **AWS_ENV},
    )  # fmt: skip
    (stack.folder / "emulator.pid").write_text(str(emulator.pid))
    return emulator


def _write_settings(folder: Path, names: plan.Names, gateway: str, ami: str) -> Path:
    local = localstack.environment_settings()
    settings = plan.environment_settings(local, emulator_port=names.emulator_port,
                                         gateway_address=gateway, initial_ami=ami)  # fmt: skip
    path = folder / "rehearsal.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def set_up(opts: Options, stack: Stack) -> scenarios.Context:
    names, folder = opts.names, stack.folder
    eprint("rehearsal: stand-ins and the twin image (as make local)")
    localstack.start_standins(build_twin=True)
    gateway = plan.gateway(twin.SUBNET)
    image_ids = stack.images = _bake_images(opts, folder, localstack.STATE / "tls" / "ca.pem")
    eprint("rehearsal: the AWS emulator with the container runtime")
    stack.emulator = _start_emulator(stack, names, gateway)
    os.environ.update(AWS_ENV)
    clients = Clients("us-east-1", stack.emulator.url)
    amis = {label: images.register(clients.ec2, plan.Variant(label), image, register_ami)
            for label, image in image_ids.items()}  # fmt: skip
    settings_path = _write_settings(folder, names, gateway, amis["v1"])
    env = load_settings(str(settings_path))
    seeded = seed(env, clients, localstack.ensure_secrets())
    tg = _target_group_spec(clients.elbv2, seeded["target_group"])
    spec = BalancerSpec(port=names.port, target_groups=(tg,), default=tg.name,
                        folder=folder / "haproxy", idle_timeout=plan.IDLE_TIMEOUT)  # fmt: skip
    RuntimeConfig(run_id=stack.run_id, network=twin.NETWORK, name_prefix=plan.PREFIX,
                  seed_root=str(folder / "seeds"), balancer=_balancer_dict(spec),
                  ).write(folder / "runtime.json")  # fmt: skip
    stack.balancer = Balancer(spec)
    stack.balancer.start()
    shutil.copy(spec.pid_path, folder / "haproxy.pid")
    stack.publisher = MetricPublisher(stack.balancer, clients.cloudwatch,
                                      seeded["dimensions"]).start()  # fmt: skip
    stack.monitor = FleetMonitor(stack.run_id, stack.balancer, tg.arn).start()
    ctx = scenarios.Context(
        folder=folder, settings=settings_path, port=names.port, amis=amis, clients=clients,
        monitor=stack.monitor, users=opts.users, env={**os.environ, **AWS_ENV}, say=eprint,
    )  # fmt: skip
    eprint("rehearsal: golden env apply (two v1 instances boot)")
    applied = scenarios.golden(ctx, "env-apply", "env", "apply", str(settings_path), "--yes")
    if applied.returncode != 0:
        raise OperationFailed(f"golden env apply failed: see {ctx.logs['env-apply']}")
    scenarios.wait_healthy(ctx, 2)
    return ctx


def _balancer_dict(spec: BalancerSpec) -> dict:
    return {
        "port": spec.port, "default": spec.default, "folder": str(spec.folder),
        "idle_timeout": spec.idle_timeout, "time_scale": spec.time_scale,
        "target_groups": [
            {"arn": tg.arn, "name": tg.name, "port": tg.port,
             "check": tg.check.__dict__, "deregistration_delay": tg.deregistration_delay}
            for tg in spec.target_groups
        ],
    }  # fmt: skip


def rehearse(opts: Options) -> dict:
    """Run the rehearsal; returns {"rows": [...], "ok": bool, "seconds", "folder",
    "images": variant label -> docker image id}."""
    preflight(opts)
    run_id = uuid.uuid4().hex[:8]
    folder = STATE
    folder.mkdir(parents=True, exist_ok=True)
    stack = Stack(run_id, folder)
    started = time.monotonic()
    rows = []
    with _interrupts_as_keyboard_interrupt():
        try:
            ctx = set_up(opts, stack)
            for key in opts.scenarios:
                rows.append(scenarios.run_scenario(ctx, key))
        finally:
            if not opts.keep:
                eprint("rehearsal: removing its containers and processes")
                stack.stop()
    return {
        "rows": rows,
        "ok": all(r["result"] == "pass" for r in rows),
        "seconds": round(time.monotonic() - started),
        "folder": str(folder),
        "images": stack.images,
    }
