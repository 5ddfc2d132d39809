"""`golden local ami`: the AWS bake (Packer's real amazon-ebs source) without an AWS account.

EC2 is the emulator on 127.0.0.1 (`make emulator`); the build instance Packer launches
there is only a record, so a local systemd container stands in for it over SSH: Packer
connects to 127.0.0.1:<published port> instead of the instance's address and runs the same
provisioners inside it. What Packer asks EC2 for (the encrypted gp3 launch mapping,
CreateImage, CopyImage for encrypt_boot, the provenance tags, clean-up) is real; the
emulator ends up holding a tagged AMI that `golden release local` accepts.

Flow: refuse a non-loopback endpoint -> preflight (the emulator answering, docker, the base
image, ssh-keygen) -> throwaway ed25519 key in a private temp folder -> the stand-in
container on a docker network of its own, sshd published on 127.0.0.1 only, the key
authorised for root -> sshd answers -> the key pair imported into the emulator under a
unique name -> the var file with the overrides -> `golden bake --target aws` -> always:
container, network, key pair and temp folder removed (also on failure and Ctrl-C).

The overrides live only in the var file written here; the template's defaults are those
of a real bake. The stand-in applies the twin platform (provision_platform = "twin"): it
is a container on this machine, where the aws platform would write host-wide sysctls and
fetch the CloudWatch agent from the internet. Salt comes from the wheelhouse (the
stand-in's Python is the host's, 3.11), not the onedir download.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from golden.bake import build
from golden.bake.preflight import docker_image_exists
from golden.bake.request import BakeRequest, is_loopback_endpoint
from golden.core import awsclient, containers
from golden.core.awsclient import EMULATOR_CREDENTIALS
from golden.core.errors import ConfigError, OperationFailed, PreflightError
from golden.core.shell import run, wait_until

STANDIN_IMAGE = "golden/base:bookworm"
NAME_PREFIX = "golden-ami-standin"
ROLES = ("app", "chroma")
LABEL = "io.golden.ami-standin"
KEY_FILE = "id_ed25519"
VAR_FILE = "standin.pkrvars.hcl"
# The local stack's CA (golden local up); an AWS bake bundles a CA for the database TLS.
LOCAL_CA = Path(".state") / "local" / "tls" / "ca.pem"
# Credentials for the emulator only: it accepts any. Real ones are never handed to this
# flow (nor to Packer), even though every endpoint is loopback.
# A proxy nobody listens on: any HTTP(S) request Packer or boto3 would send off this
# machine (an AWS API without a custom endpoint, a metadata lookup) fails at once instead.
DEAD_PROXY = "http://127.0.0.1:9"
BOOT_TIMEOUT = 90.0
SSHD_TIMEOUT = 60.0


# ---------------------------------------------------------------- pure parts


@dataclass(frozen=True)
class Names:
    container: str
    network: str
    keypair: str


def names(prefix: str, token: str) -> Names:
    """One token for all three, so a leftover is easy to match to its run."""
    base = f"{prefix}-{token}"
    return Names(container=base, network=base, keypair=base)


def check_prefix(prefix: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,40}", prefix):
        raise ConfigError(
            f"--name-prefix {prefix!r}: expected 1-41 lower-case letters, digits, '.', '_' "
            "or '-' (it names a docker container, a docker network and an EC2 key pair)"
        )
    return prefix


def check_endpoint(url: str) -> str:
    """The stand-in is only for an emulator on this machine: a real EC2 endpoint would
    launch a real instance that nothing here would ever reach or look after."""
    if not url or not re.match(r"^https?://", url):
        raise ConfigError(f"--endpoint {url!r}: expected http://127.0.0.1:PORT (the AWS emulator)")
    if not is_loopback_endpoint(url):
        raise ConfigError(
            f"--endpoint {url}: not a loopback address. `golden local ami` bakes against the "
            "AWS emulator on this machine only (127.0.0.1, ::1, localhost); for a real AWS "
            "bake use `golden bake --target aws` (make ami ENV=<env>)"
        )
    return url.rstrip("/")


def standin_variables(
    *,
    endpoint: str,
    region: str,
    ssh_port: int,
    keypair: str,
    key_file: Path,
) -> dict[str, object]:
    """The template variables that point the amazon-ebs source at the emulator and the
    stand-in. Nothing else of the template changes."""
    return {
        "ec2_endpoint": endpoint,
        "aws_region": region,
        "ami_regions": [],
        "ssh_host": "127.0.0.1",
        "ssh_port": ssh_port,
        "ssh_username": "root",
        "ssh_interface": "",
        "ssh_keypair_name": keypair,
        "ssh_private_key_file": str(key_file),
        "ssh_source_cidrs": ["127.0.0.1/32"],
        "provision_platform": "twin",
    }


def _hcl_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_hcl_value(item) for item in value) + "]"
    if isinstance(value, str):
        text = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "$${")
        text = text.replace("%{", "%%{").replace("\n", "\\n")
        return f'"{text}"'
    raise TypeError(f"no HCL rendering for {type(value).__name__}")


def render_var_file(variables: Mapping[str, object]) -> str:
    width = max(len(name) for name in variables)
    lines = [
        "# Written by `golden local ami` for one emulated AWS bake: the amazon-ebs source",
        "# talks to the EC2 emulator on 127.0.0.1 and SSHes into a local stand-in container.",
    ]
    lines += [f"{name.ljust(width)} = {_hcl_value(value)}" for name, value in variables.items()]
    return "\n".join(lines) + "\n"


def docker_run_argv(names_: Names, image: str, ssh_port: int | None, token: str) -> list[str]:
    # 127.0.0.1 only; an empty host port lets Docker pick a free one.
    publish = f"127.0.0.1:{ssh_port if ssh_port else ''}:22"
    return [
        "docker", "run", "-d",
        "--name", names_.container,
        "--hostname", names_.container,
        "--network", names_.network,
        "--label", f"{LABEL}={token}",
        "-p", publish,
        *containers.SYSTEMD_RUN_FLAGS,
        image, "/sbin/init",
    ]  # fmt: skip


def offline_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The process environment while the emulated bake runs: emulator-only credentials, no
    profile or session token, no metadata lookups, HTTP(S) off this machine refused."""
    env = {
        k: v
        for k, v in base.items()
        if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy", "no_proxy")
    }
    env.update(EMULATOR_CREDENTIALS)
    env.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "HTTP_PROXY": DEAD_PROXY,
            "HTTPS_PROXY": DEAD_PROXY,
            "http_proxy": DEAD_PROXY,
            "https_proxy": DEAD_PROXY,
            "NO_PROXY": "127.0.0.1,localhost,::1",
            "no_proxy": "127.0.0.1,localhost,::1",
            "CHECKPOINT_DISABLE": "1",
        }
    )
    return env


def human_result(result: Mapping) -> str:
    if result.get("status") == "dry-run":
        lines = [f"dry run: packer validate passed for the emulated {result['role']} bake"]
        lines += [f"  would start {result['standin']['container']} from {result['image']}"]
        lines += [f"  {k} = {v}" for k, v in sorted(result["variables"].items())]
        return "\n".join(lines)
    found = sorted(result.get("amis", {}).items())
    amis = ", ".join(f"{region}: {ami}" for region, ami in found)
    tests = result.get("tests") or {}
    release_ami = found[0][1] if found else "latest"
    return (
        f"baked {result['role']} against the emulator {result['endpoint']}: {amis}\n"
        f"tests: passed={tests.get('passed')} failed={tests.get('failed')} "
        f"skipped={tests.get('skipped')}; tested tag: {result.get('tested')}\n"
        f"stand-in removed: {', '.join(result['standin']['removed']) or 'nothing to remove'}\n"
        f"record: {result.get('record')}\n"
        f"release it: make release ENV=local ROLE={result['role']} AMI={release_ami}"
    )


# ---------------------------------------------------------------- spec


@dataclass(frozen=True)
class StandinSpec:
    role: str
    endpoint: str
    region: str = "us-east-1"
    image: str = STANDIN_IMAGE
    name_prefix: str = NAME_PREFIX
    ssh_port: int | None = None  # None: Docker picks a free 127.0.0.1 port
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    dry_run: bool = False

    def checked(self) -> StandinSpec:
        if self.role not in ROLES:
            raise ConfigError(f"--role {self.role!r}: expected one of {', '.join(ROLES)}")
        if self.ssh_port is not None and not 1 <= self.ssh_port <= 65535:
            raise ConfigError(f"--ssh-port {self.ssh_port}: expected 1..65535")
        return dataclasses.replace(
            self, endpoint=check_endpoint(self.endpoint), name_prefix=check_prefix(self.name_prefix)
        )


def default_endpoint() -> tuple[str, str]:
    """(endpoint, region) of the local environment (autoscaling/environments/local.yaml)."""
    from autoscaling.settings import load

    env = load("local")
    return env.endpoint_url or "http://127.0.0.1:5050", env.region


# ---------------------------------------------------------------- effects


class Progress:
    def __init__(self, out=None):
        self.started = time.monotonic()
        self.out = out or sys.stderr

    def say(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.0f}s] local ami: {text}", file=self.out, flush=True)


def _ec2(endpoint: str, region: str):
    from botocore.config import Config

    # Exactly this (loopback) endpoint, whatever AWS_ENDPOINT_URL says; dummy keys.
    return awsclient.session(endpoint).client(
        "ec2",
        region_name=region,
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


def preflight(spec: StandinSpec) -> None:
    """Everything that can be checked before anything is created; the emulator first, as
    the one thing a user most often has not started yet."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _ec2(spec.endpoint, spec.region).describe_regions(RegionNames=[spec.region])
    except (BotoCoreError, ClientError) as exc:
        raise PreflightError(
            f"the AWS emulator does not answer at {spec.endpoint} ({exc.__class__.__name__}: "
            f"{exc}): start it with `make emulator` (python -m autoscaling.emulator --port "
            "5050 --seed local) or pass --endpoint"
        ) from None
    for program, hint in (
        ("docker", "install Docker and start dockerd"),
        ("ssh-keygen", "apt-get install openssh-client"),
        ("ssh", "apt-get install openssh-client"),
    ):
        if not shutil.which(program):
            raise PreflightError(f"{program} not found on PATH: {hint}")
    if not docker_image_exists(spec.image):
        raise PreflightError(
            f"stand-in image {spec.image!r} not found in the local Docker: build it with "
            "`golden base-image` (make base-image)"
        )


def generate_key(folder: Path) -> tuple[Path, str]:
    key = folder / KEY_FILE
    run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "golden-ami-standin", "-f", str(key)],
        what="ssh-keygen",
    )
    return key, key.with_suffix(".pub").read_text(encoding="utf-8").strip()


def throwaway_ca(folder: Path) -> Path:
    """A CA certificate nobody uses (public data), for bakes that must bundle one."""
    pem = folder / "throwaway-ca.pem"
    run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=golden emulated bake (throwaway)", "-keyout", str(folder / "ca.key"),
         "-out", str(pem)],
        what="openssl (throwaway CA)",
    )  # fmt: skip
    (folder / "ca.key").unlink()
    return pem


def start_standin(spec: StandinSpec, names_: Names) -> int:
    """The container on its own network; returns the 127.0.0.1 port of its sshd."""
    run(
        ["docker", "network", "create", "--driver", "bridge",
         "--label", f"{LABEL}={spec.token}", names_.network],
        what=f"docker network create {names_.network}",
    )  # fmt: skip
    run(
        docker_run_argv(names_, spec.image, spec.ssh_port, spec.token),
        what=f"docker run {names_.container}",
    )
    out = run(["docker", "port", names_.container, "22/tcp"], what="docker port").stdout.decode()
    match = re.search(r"127\.0\.0\.1:(\d+)", out)
    if not match:
        raise OperationFailed(f"{names_.container}: sshd port not published on 127.0.0.1 ({out!r})")
    return int(match.group(1))


def prepare_sshd(container: str, public_key: str) -> None:
    """Root may log in with the throwaway key; host keys exist (the base image ships none,
    like a cloud image before first boot)."""

    def booted() -> bool:
        proc = run(["docker", "exec", container, "systemctl", "is-system-running"], check=False)
        return proc.stdout.decode().strip() in ("running", "degraded")

    wait_until(booted, timeout=BOOT_TIMEOUT, interval=0.5, what=f"systemd in {container} to boot")
    run(
        ["docker", "exec", "-i", container, "sh", "-c",
         "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys"],
        input=(public_key + "\n").encode(),
        what="install the stand-in's authorized key",
    )  # fmt: skip
    run(
        ["docker", "exec", container, "sh", "-c",
         "ssh-keygen -A && systemctl enable ssh >/dev/null 2>&1; systemctl restart ssh"],
        what="start sshd in the stand-in",
    )  # fmt: skip


def wait_for_sshd(port: int, key: Path, timeout: float = SSHD_TIMEOUT) -> float:
    """A real login with the key, so Packer's first attempt succeeds."""

    def login() -> bool:
        proc = subprocess.run(
            ["ssh", "-q", "-i", str(key), "-p", str(port),
             "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=5",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "root@127.0.0.1", "true"],
            capture_output=True, timeout=30,
        )  # fmt: skip
        return proc.returncode == 0

    return wait_until(login, timeout=timeout, interval=1.0, what=f"sshd on 127.0.0.1:{port}")


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C does, through the clean-up below."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupt(_signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def uninterruptible() -> Iterator[None]:
    """Clean-up runs to its end even when Ctrl-C is pressed again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cleanup(spec: StandinSpec, names_: Names, workdir: Path, created: set[str]) -> list[str]:
    """Remove what this run made; returns what could not be removed."""
    problems = []
    if "container" in created:
        proc = run(["docker", "rm", "-f", "-v", names_.container], check=False, timeout=120)
        if proc.returncode != 0 and containers.container_state(names_.container) is not None:
            problems.append(f"docker container {names_.container}: {proc.stderr.decode().strip()}")
    if "network" in created:
        proc = run(["docker", "network", "rm", names_.network], check=False, timeout=60)
        if proc.returncode != 0:
            still = run(["docker", "network", "inspect", names_.network], check=False)
            if still.returncode == 0:
                problems.append(f"docker network {names_.network}: {proc.stderr.decode().strip()}")
    if "keypair" in created:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            _ec2(spec.endpoint, spec.region).delete_key_pair(KeyName=names_.keypair)
        except (BotoCoreError, ClientError) as exc:
            problems.append(f"key pair {names_.keypair} in the emulator at {spec.endpoint}: {exc}")
    shutil.rmtree(workdir, ignore_errors=True)
    if workdir.exists():
        problems.append(f"temporary folder {workdir}")
    return problems


def _bake_request(
    role: str, var_file: Path, endpoint: str, ca_bundle: Path, dry_run: bool
) -> BakeRequest:
    return BakeRequest(
        role=role,
        target="aws",
        var_files=[var_file],
        variables={"ec2_endpoint": endpoint},
        # The stand-in's Python is the host's (3.11), which the wheelhouse is built for;
        # onedir would download Salt from the internet.
        salt_install="wheelhouse",
        ca_bundle=ca_bundle,
        dry_run=dry_run,
        # The emulator knows no vulnerabilities (only a report a test records): say so.
        skip_scan=True,
    )


def _bring_up(
    spec: StandinSpec,
    names_: Names,
    key: Path,
    public_key: str,
    created: set[str],
    progress: Progress,
) -> int:
    """The stand-in container started with sshd answering to ``key``, and the key pair
    imported into the emulator; returns the 127.0.0.1 port of its sshd. Each thing is
    added to ``created`` before it is made, so the clean-up removes a half-made one too."""
    progress.say(f"starting the stand-in {names_.container} from {spec.image}")
    created.update({"network", "container"})
    port = start_standin(spec, names_)
    prepare_sshd(names_.container, public_key)
    waited = wait_for_sshd(port, key)
    progress.say(f"sshd answers on 127.0.0.1:{port} ({waited:.0f}s)")
    created.add("keypair")
    _ec2(spec.endpoint, spec.region).import_key_pair(
        KeyName=names_.keypair, PublicKeyMaterial=public_key.encode()
    )
    progress.say(f"key pair {names_.keypair} imported into {spec.endpoint}")
    return port


def _bake_outcome(spec: StandinSpec, variables: Mapping[str, object], record: dict) -> dict:
    """What the summary says about the bake: the variables and the record of a dry run,
    or the status, AMIs, tests and record of a real bake."""
    if spec.dry_run:
        return {"status": "dry-run", "variables": variables, "bake": record}
    found = record.get("artifacts", {})
    return {
        "status": record.get("status"),
        "amis": found.get("amis", {}),
        "tests": record.get("tests"),
        "tested": record.get("tested"),
        "record": record.get("record_path"),
        "bake_id": record.get("id"),
    }


def run_bake(
    spec: StandinSpec,
    *,
    repo: Path,
    progress_out=None,
    bake_fn=build.bake,
) -> dict:
    """The whole flow; returns a summary (AMIs, tests, bake record, what was removed).
    Raises the bake's error after the clean-up; nothing this run made is left behind."""
    spec = spec.checked()
    progress = Progress(progress_out)
    names_ = names(spec.name_prefix, spec.token)
    preflight(spec)
    workdir = Path(tempfile.mkdtemp(prefix="golden-ami-standin-"))
    workdir.chmod(0o700)
    created: set[str] = set()
    result: dict = {
        "role": spec.role,
        "endpoint": spec.endpoint,
        "region": spec.region,
        "image": spec.image,
        "standin": {**dataclasses.asdict(names_), "removed": []},
    }
    failure: BaseException | None = None
    try:
        with terminate_as_interrupt():
            key, public_key = generate_key(workdir)
            # An AWS bake must bundle a database CA; the emulated one talks to no database,
            # so the local stack's CA serves, or a throwaway one (public data either way).
            local_ca = repo / LOCAL_CA
            ca_bundle = local_ca if local_ca.is_file() else throwaway_ca(workdir)
            if spec.dry_run:
                port = spec.ssh_port or 22
            else:
                port = _bring_up(spec, names_, key, public_key, created, progress)
            variables = standin_variables(
                endpoint=spec.endpoint,
                region=spec.region,
                ssh_port=port,
                keypair=names_.keypair,
                key_file=key,
            )
            var_file = workdir / VAR_FILE
            var_file.write_text(render_var_file(variables), encoding="utf-8")
            request = _bake_request(spec.role, var_file, spec.endpoint, ca_bundle, spec.dry_run)
            progress.say(
                f"golden bake --role {spec.role} --target aws (EC2: {spec.endpoint}, "
                f"instance: 127.0.0.1:{port})"
            )
            with environment(offline_environment(os.environ)):
                record = bake_fn(request, repo=repo, progress_out=progress_out)
        result.update(_bake_outcome(spec, variables, record))
    except BaseException as exc:
        failure = exc
        raise
    finally:
        with uninterruptible():
            if created:
                progress.say("removing the stand-in container, its network and the key pair")
            problems = cleanup(spec, names_, workdir, created)
        result["standin"]["removed"] = sorted(created)
        result["seconds"] = round(time.monotonic() - progress.started, 1)
        if problems:
            text = "left behind (remove by hand): " + "; ".join(problems)
            if failure is None:
                raise OperationFailed(text)
            progress.say(text)
    progress.say(f"done in {result['seconds']}s")
    return result


# ---------------------------------------------------------------- command line


def leftovers(prefix: str = NAME_PREFIX) -> dict[str, list[str]]:
    """Stand-in containers and networks whose names start with ``prefix`` (diagnostics)."""
    found: dict[str, list[str]] = {}
    for kind, argv in (
        ("container", ["docker", "container", "ls", "-a", "--format", "{{.Names}}"]),
        ("network", ["docker", "network", "ls", "--format", "{{.Name}}"]),
    ):
        proc = run([*argv, "--filter", f"label={LABEL}"], check=False)
        found[kind] = [n for n in proc.stdout.decode().split() if n.startswith(prefix)]
    return found
