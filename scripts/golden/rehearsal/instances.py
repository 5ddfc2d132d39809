"""The rehearsal's runtime for the AWS emulator: every instance is a twin container, every
target group a backend of the rehearsal's HAProxy.

The emulator (autoscaling.emulator, started with ``--runtime
golden.rehearsal.instances:from_environment``) calls this object at the lifecycle moments
described in autoscaling/emulator/runtime.py; nothing here calls AWS. So:

- an instance launched from a launch-template version becomes a container of the twin
  image its AMI stands for (the AMI's tag ``golden:twin-image``, set when the rehearsal
  registered the bake's image), booted by systemd with that version's user data through
  cloud-init NoCloud, on the twin network beside the stand-ins;
- registering it in a target group adds it to HAProxy (health checks start); a
  deregistration drains it for the deregistration delay, then removes it;
- terminating it stops and removes its container once the drain is over;
- an SSM Run Command script runs inside it (`docker exec`, bash, as root).

Plain decisions (names, seed files, docker argv) are pure functions at the top; the class
below holds the state of one rehearsal (instance id -> container, address, launch time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from golden.core import containers
from golden.core.shell import run
from golden.rehearsal.haproxy import Balancer, BalancerSpec, HealthCheck, TargetGroup

CONFIG_ENV = "GOLDEN_REHEARSAL_CONFIG"
TWIN_IMAGE_TAG = "golden:twin-image"
RUN_LABEL = "io.golden.rehearsal"
INSTANCE_LABEL = "io.golden.rehearsal.instance-id"
# How long `docker stop` lets systemd shut the instance down (nginx, app.service).
STOP_SECONDS = 30
DRAIN_LIMIT = 3600  # the ELB's largest deregistration delay
# How often a draining target's open sessions are read (HAProxy's scur).
DRAIN_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class RuntimeConfig:
    """Written by the rehearsal before the emulator needs it (JSON at $GOLDEN_REHEARSAL_CONFIG)."""

    run_id: str
    network: str
    name_prefix: str
    seed_root: str
    balancer: dict
    time_scale: float = 1.0

    @classmethod
    def read(cls, path: str | os.PathLike) -> RuntimeConfig:
        return cls(**json.loads(Path(path).read_text()))

    def write(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.__dict__, indent=2, sort_keys=True))

    def balancer_spec(self) -> BalancerSpec:
        spec = dict(self.balancer)
        groups = tuple(
            TargetGroup(
                arn=tg["arn"], name=tg["name"], port=int(tg["port"]),
                check=HealthCheck(**tg["check"]),
                deregistration_delay=float(tg["deregistration_delay"]),
            )
            for tg in spec.pop("target_groups")
        )  # fmt: skip
        return BalancerSpec(
            port=int(spec["port"]), target_groups=groups, default=spec["default"],
            folder=Path(spec["folder"]), idle_timeout=int(spec.get("idle_timeout", 60)),
            time_scale=float(spec.get("time_scale", 1.0)),
        )  # fmt: skip


def container_name(prefix: str, instance_id: str) -> str:
    return f"{prefix}-{instance_id}"


def seed_files(instance_id: str, user_data: str | None) -> dict[str, str]:
    """NoCloud seed: meta-data names the instance, user-data is the launch template's."""
    return {
        "meta-data": f"instance-id: {instance_id}\nlocal-hostname: {instance_id}\n",
        "user-data": user_data or "",
    }


def run_argv(cfg: RuntimeConfig, instance_id: str, image: str, seed_dir: Path) -> list[str]:
    """`docker run` for one instance: systemd as PID 1, its own hostname, the twin network,
    nothing published (the load balancer reaches it at its address on that network)."""
    return [
        "docker", "run", "-d",
        "--name", container_name(cfg.name_prefix, instance_id),
        "--hostname", instance_id,
        "--network", cfg.network,
        "--label", f"{RUN_LABEL}={cfg.run_id}",
        "--label", f"{INSTANCE_LABEL}={instance_id}",
        *containers.SYSTEMD_RUN_FLAGS,
        "-v", f"{seed_dir.resolve()}:/var/lib/cloud/seed/nocloud:ro",
        image, "/sbin/init",
    ]  # fmt: skip


def twin_image_for(image_tags: dict[str, str], image_id: str) -> str:
    """The docker image an AMI stands for; ValueError naming the AMI when it has none."""
    image = image_tags.get(TWIN_IMAGE_TAG)
    if not image:
        raise ValueError(
            f"AMI {image_id} has no {TWIN_IMAGE_TAG} tag: only AMIs the rehearsal registered "
            f"for a baked twin image can launch real instances"
        )
    return image


class ContainerRuntime:
    """The emulator runtime of one rehearsal (see the module docstring)."""

    def __init__(self, cfg: RuntimeConfig | None = None, *, config_path: str | None = None):
        # The emulator starts before the rehearsal has seeded its target groups, so the
        # config may be read at the first lifecycle call instead (config_path).
        self._cfg = cfg
        self._config_path = config_path
        self._balancer: Balancer | None = None
        self._lock = threading.Lock()
        self._address: dict[str, str] = {}
        self._launched: dict[str, float] = {}
        # Instance id -> its targets still draining (terminate waits for them).
        self._draining: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self.events: list[dict] = []

    @property
    def cfg(self) -> RuntimeConfig:
        if self._cfg is None:
            if not self._config_path:
                raise ValueError(f"{CONFIG_ENV} is not set: the rehearsal writes it first")
            self._cfg = RuntimeConfig.read(self._config_path)
        return self._cfg

    @property
    def balancer(self) -> Balancer:
        if self._balancer is None:
            self._balancer = Balancer(self.cfg.balancer_spec())
        return self._balancer

    def _event(self, kind: str, instance_id: str, **fields) -> None:
        event = {"time": time.time(), "event": kind, "instance": instance_id, **fields}
        with self._lock:
            self.events.append(event)
        # One line each in the emulator's log: what happened to which container, when.
        print(f"golden runtime: {json.dumps(event, default=str)}", file=sys.stderr, flush=True)

    # -- instances ------------------------------------------------------------------------
    def launch(self, spec) -> str | None:
        image = twin_image_for(spec.image_tags, spec.image_id)
        seed_dir = Path(self.cfg.seed_root) / spec.instance_id
        seed_dir.mkdir(parents=True, exist_ok=True)
        for name, text in seed_files(spec.instance_id, spec.user_data).items():
            (seed_dir / name).write_text(text)
        run(run_argv(self.cfg, spec.instance_id, image, seed_dir),
            what=f"docker run (instance {spec.instance_id})")  # fmt: skip
        address = self._inspect_address(spec.instance_id)
        with self._lock:
            self._address[spec.instance_id] = address
            self._launched[spec.instance_id] = time.monotonic()
        self._event("launch", spec.instance_id, image=image, address=address,
                    version=spec.template_version)  # fmt: skip
        return address

    def _inspect_address(self, instance_id: str) -> str:
        name = container_name(self.cfg.name_prefix, instance_id)
        fmt = f"{{{{(index .NetworkSettings.Networks \"{self.cfg.network}\").IPAddress}}}}"
        return run(["docker", "inspect", "-f", fmt, name]).stdout.decode().strip()

    def terminate(self, instance_id: str, drain_seconds: float = 0.0) -> None:
        """Stop and remove the container once the drain is over (in the background, so
        the API answers at once, as AWS does)."""
        wait = min(max(0.0, drain_seconds), DRAIN_LIMIT)
        self._event("terminate", instance_id, drain_seconds=wait)
        self._background(self._remove_after, instance_id, wait)

    def _remove_after(self, instance_id: str, seconds: float) -> None:
        # Auto Scaling terminates once the instance's deregistration has completed, which
        # may be before the delay is over (see _forget_after).
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                draining = self._draining.get(instance_id, 0)
            if not draining:
                break
            time.sleep(DRAIN_POLL_SECONDS)
        name = container_name(self.cfg.name_prefix, instance_id)
        run(["docker", "stop", "--time", str(STOP_SECONDS), name], check=False)
        containers.remove_container(name)
        self._event("removed", instance_id)

    def _background(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    # -- target groups ----------------------------------------------------------------------
    def register_target(self, arn: str, instance_id: str, port: int) -> None:
        with self._lock:
            address = self._address.get(instance_id)
        if address is None:  # an instance this runtime did not launch
            return
        self.balancer.register(arn, instance_id, address, port)
        self._event("register", instance_id, target_group=arn)

    def deregister_target(self, arn: str, instance_id: str, delay_seconds: float) -> None:
        with self._lock:
            if instance_id not in self._address:
                return
        self.balancer.drain(arn, instance_id)
        with self._lock:
            self._draining[instance_id] = self._draining.get(instance_id, 0) + 1
        self._event("drain", instance_id, target_group=arn, delay=delay_seconds)
        self._background(self._forget_after, arn, instance_id, min(delay_seconds, DRAIN_LIMIT))

    def _forget_after(self, arn: str, instance_id: str, seconds: float) -> None:
        """The target leaves once it has no request in flight, or when the deregistration
        delay is over, whichever comes first. AWS: "If a deregistering target has no
        in-flight requests and no active connections, Elastic Load Balancing immediately
        completes the deregistration process, without waiting for the deregistration delay
        to elapse" (ELB User Guide for Application Load Balancers, Deregistration delay).
        The first poll waits a moment: requests routed just before the drain arrive."""
        deadline = time.monotonic() + max(0.0, seconds)
        time.sleep(min(DRAIN_POLL_SECONDS, max(0.0, seconds)))
        while time.monotonic() < deadline:
            try:
                if self.balancer.active_sessions(arn, instance_id) == 0:
                    break
            except OSError:
                break
            time.sleep(DRAIN_POLL_SECONDS)
        answer = self.balancer.remove(arn, instance_id)
        with self._lock:
            left = self._draining.get(instance_id, 1) - 1
            if left > 0:
                self._draining[instance_id] = left
            else:
                self._draining.pop(instance_id, None)
        self._event("deregistered", instance_id, target_group=arn, haproxy=answer.strip())

    def target_health(self, arn: str) -> dict[str, dict]:
        return self.balancer.target_health(arn)

    def launched_at(self, instance_id: str) -> float | None:
        with self._lock:
            return self._launched.get(instance_id)

    # -- Run Command --------------------------------------------------------------------------
    def run_command(self, instance_id: str, script: str, timeout: float) -> tuple[int, str, str]:
        """Run SCRIPT with bash as root inside the instance; (response code, stdout,
        stderr). A timeout answers -1, as SSM's Execution Timed Out does."""
        name = container_name(self.cfg.name_prefix, instance_id)
        try:
            proc = subprocess.run(
                ["docker", "exec", name, "bash", "-c", script],
                capture_output=True, timeout=max(1.0, timeout), check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode(errors="replace")
            return -1, out, "execution timed out"
        return (
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )

    def close(self) -> None:
        """Nothing to stop: the rehearsal removes containers and HAProxy itself."""


def from_environment() -> ContainerRuntime:
    """The emulator's --runtime factory: the config the rehearsal writes at
    $GOLDEN_REHEARSAL_CONFIG (read at the first lifecycle call)."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise ValueError(f"{CONFIG_ENV} is not set: the rehearsal sets it for the emulator")
    return ContainerRuntime(config_path=path)
