"""`golden local up|down|status`: the full stack on one machine.

Stand-ins that only the twin and 127.0.0.1 can reach, as containers on the twin's docker
network (published on 127.0.0.1 only), their data under .state/local/:
PostgreSQL (Debian's package, TLS from a local CA) for RDS, Redis (Debian's package) for
ElastiCache, a real Chroma server (the chromadb package) for the Chroma host, and the AWS
emulator (moto server) for S3 and SSM Parameter Store. The twin boots from a NoCloud seed
that carries the very user data the release tool renders for a launch template."""

from __future__ import annotations

import hashlib
import json
import secrets as pysecrets
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from golden.core import containers, instance_doc
from golden.core.errors import ConfigError, OperationFailed
from golden.core.shell import eprint, run, stream, wait_until
from golden.twin import baseimage, wheelhouse
from golden.twin import build as twin

REPO = twin.REPO
STATE = REPO / ".state" / "local"
STANDINS_IMAGE = "golden-local/standins:bookworm"
STANDINS_LABEL = "io.golden.standins.inputs"
STANDINS_WHEELHOUSE = REPO / "build" / "wheelhouse-standins"
STANDINS_REQUIREMENTS = ("moto[server]>=5.1", "chromadb==1.5.*")
# The managed services the stand-ins play (Debian 12's packages): RDS for PostgreSQL 15
# and ElastiCache for Redis 7; the foundation stack and the stand-ins name the same majors.
POSTGRES_MAJOR = 15
REDIS_MAJOR = 7
TWIN_NAME = "golden-local-app"
ENV_NAME = "local"


@dataclass(frozen=True)
class StandIn:
    name: str          # container name = host name on the twin network
    port: int          # inside the container
    host_port: int     # published on 127.0.0.1
    command: tuple[str, ...]
    data: str          # folder under .state/local mounted at `mount`
    mount: str


STANDINS = (
    StandIn("golden-local-postgres", 5432, 15432, ("/usr/local/bin/golden-postgres-start",),
            "postgres", "/var/lib/golden-pg"),
    # ElastiCache's default parameter group evicts with volatile-lru; a cache.t4g.micro
    # holds about 0.5 GiB.
    StandIn("golden-local-redis", 6379, 16379,
            ("runuser", "-u", "redis", "--", "redis-server", "--bind", "0.0.0.0",
             "--protected-mode", "no", "--dir", "/data", "--appendonly", "yes",
             "--maxmemory", "512mb", "--maxmemory-policy", "volatile-lru"),
            "redis", "/data"),
    StandIn("golden-local-chroma", 8000, 18000,
            ("/opt/chroma/bin/chroma", "run", "--host", "0.0.0.0", "--port", "8000",
             "--path", "/data"), "chroma", "/data"),
    StandIn("golden-local-aws", 5000, 15000,
            ("/opt/moto/bin/python", "-m", "autoscaling.emulator", "--host", "0.0.0.0",
             "--port", "5000"), "aws", "/data"),
)


# -- pure decisions ---------------------------------------------------------------------------


def environment_settings() -> dict:
    import yaml

    path = REPO / "autoscaling" / "environments" / f"{ENV_NAME}.yaml"
    return yaml.safe_load(path.read_text())


def user_data(role: str = "app") -> str:
    """Exactly what the release tool puts in a launch template for ENV=local."""
    return instance_doc.render_user_data(
        instance_doc.from_environment(environment_settings(), role))


def seed_files(user_data_text: str, instance_id: str) -> dict[str, str]:
    return {"meta-data": f"instance-id: {instance_id}\nlocal-hostname: {instance_id}\n",
            "user-data": user_data_text}


def standins_inputs() -> str:
    script = (Path(__file__).parent / "standins" / "postgres-start.sh").read_text()
    return hashlib.sha256(("\n".join(STANDINS_REQUIREMENTS) + script + _STANDINS_SCRIPT)
                          .encode()).hexdigest()[:16]


_STANDINS_SCRIPT = """\
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get -o Acquire::Retries=5 update -qq
apt-get -o Acquire::Retries=5 install -y -q --no-install-recommends \\
  postgresql redis-server >/dev/null
apt-get clean; rm -rf /var/lib/apt/lists/*
python3 -m venv /opt/moto
/opt/moto/bin/pip install -q --no-index --find-links /wh moto[server]
/opt/moto/bin/pip install -q --no-index --no-deps /wh/golden-*.whl
python3 -m venv /opt/chroma
/opt/chroma/bin/pip install -q --no-index --find-links /wh chromadb
install -m 0755 /wh/postgres-start.sh /usr/local/bin/golden-postgres-start
"""


# -- effects ----------------------------------------------------------------------------------


def build_standins(base: str) -> str:
    started = time.monotonic()
    wh = STANDINS_WHEELHOUSE
    deps = standins_inputs()
    stamp = wh / ".inputs"
    if not (stamp.exists() and stamp.read_text().strip() == deps):
        shutil.rmtree(wh, ignore_errors=True)
        wh.mkdir(parents=True)
        eprint("stand-ins: building the wheelhouse (moto, chromadb)")
        stream([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wh),
                *STANDINS_REQUIREMENTS],
               on_line=lambda line: None, what="pip wheel (stand-ins)")
        stamp.write_text(deps + "\n")
    # The emulator is this checkout's code: a changed golden wheel means a new image.
    # Not an image input, so not checked against the image lock (add_golden_wheel would).
    golden_wheel = wheelhouse.build_golden_wheel(wh).read_bytes()
    wanted = hashlib.sha256(deps.encode() + golden_wheel).hexdigest()[:16]
    if containers.image_label(STANDINS_IMAGE, STANDINS_LABEL) == wanted:
        return STANDINS_IMAGE
    shutil.copy2(Path(__file__).parent / "standins" / "postgres-start.sh", wh)
    builder = "golden-local-standins-build"
    containers.remove_container(builder)
    eprint(f"stand-ins: building {STANDINS_IMAGE}")
    try:
        stream(["docker", "run", "--name", builder, "-v", f"{wh}:/wh:ro", base,
                "/bin/sh", "-c", _STANDINS_SCRIPT], on_line=lambda line: None,
               what="stand-ins image build")
        run(["docker", "commit", "-c", f"LABEL {STANDINS_LABEL}={wanted}", "-c",
             'CMD ["/bin/bash"]', builder, STANDINS_IMAGE], what="docker commit")
    finally:
        containers.remove_container(builder)
    eprint(f"stand-ins image built in {time.monotonic() - started:.0f}s")
    return STANDINS_IMAGE


def ensure_secrets() -> dict[str, str]:
    """The local "vault": generated once, kept 0600 under .state, fed to the SSM emulator."""
    folder = STATE / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    values = {}
    for name in instance_doc.SECRET_NAMES:
        path = folder / name
        if not path.exists():
            path.write_text(pysecrets.token_urlsafe(24))
            path.chmod(0o600)
        values[name] = path.read_text().strip()
    return values


def ensure_tls() -> Path:
    """A local CA and a server certificate for the PostgreSQL stand-in (the name the twin
    connects to), so sslmode=verify-full is exercised as on RDS."""
    tls = STATE / "tls"
    if (tls / "server.crt").exists() and (tls / "ca.pem").exists():
        return tls
    tls.mkdir(parents=True, exist_ok=True)
    host = STANDINS[0].name
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825",
         "-subj", "/CN=golden local CA", "-keyout", str(tls / "ca.key"),
         "-out", str(tls / "ca.pem")], what="openssl (CA)")
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}",
         "-keyout", str(tls / "server.key"), "-out", str(tls / "server.csr")],
        what="openssl (server key)")
    (tls / "san.ext").write_text(f"subjectAltName=DNS:{host},DNS:localhost,IP:127.0.0.1\n")
    run(["openssl", "x509", "-req", "-in", str(tls / "server.csr"), "-CA", str(tls / "ca.pem"),
         "-CAkey", str(tls / "ca.key"), "-CAcreateserial", "-days", "825",
         "-extfile", str(tls / "san.ext"), "-out", str(tls / "server.crt")],
        what="openssl (server certificate)")
    for key in tls.glob("*.key"):
        key.chmod(0o600)
    return tls


def start_standin(standin: StandIn, image: str, tls: Path) -> None:
    state = containers.container_state(standin.name)
    spec = hashlib.sha256(repr(standin).encode()).hexdigest()[:16]
    labels = (state or {}).get("Config", {}).get("Labels") or {}
    # Reused only when it is the same image and command over the same data (another
    # checkout's stack has other secrets and another CA).
    if (state and state["State"]["Running"]
            and state["Image"] == containers.image_inspect(image)["Id"]
            and labels.get("io.golden.state") == str(STATE)
            and labels.get("io.golden.standin") == spec):
        return
    containers.remove_container(standin.name)
    data = STATE / standin.data
    data.mkdir(parents=True, exist_ok=True)
    argv = ["docker", "run", "-d", "--name", standin.name, "--hostname", standin.name,
            "--network", twin.NETWORK, "--restart", "unless-stopped",
            "-p", f"127.0.0.1:{standin.host_port}:{standin.port}",
            "-v", f"{data}:{standin.mount}", "--label", "io.golden.local=standin",
            "--label", f"io.golden.state={STATE}", "--label", f"io.golden.standin={spec}"]
    if standin.data == "postgres":
        db = environment_settings()["instance"]["database"]
        argv += ["-v", f"{tls}:/tls:ro",
                 "-v", f"{STATE / 'secrets' / 'db_password'}:/run/golden-secrets/db_password:ro",
                 "-e", f"DB_USER={db['user']}", "-e", f"DB_NAME={db['name']}"]
    if standin.data == "redis":
        argv += ["--entrypoint", "/bin/sh", image, "-c",
                 f"chown redis /data && exec {' '.join(standin.command)}"]
    else:
        argv += [image, *standin.command]
    run(argv, what=f"docker run {standin.name}")


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def seed_aws(secret_values: dict[str, str]) -> None:
    from golden.core import awsclient

    settings = environment_settings()
    inst = settings["instance"]
    endpoint = f"http://127.0.0.1:{STANDINS[3].host_port}"
    # Exactly the stand-in's loopback port, with dummy keys; no user profile is read.
    aws = awsclient.session(endpoint)
    common = {"region_name": settings["region"], "endpoint_url": endpoint}
    s3 = aws.client("s3", **common)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if inst["s3"]["bucket"] not in existing:
        s3.create_bucket(Bucket=inst["s3"]["bucket"])
    ssm = aws.client("ssm", **common)
    path = inst["ssm_path"].rstrip("/")
    for name, value in secret_values.items():
        ssm.put_parameter(Name=f"{path}/{name}", Value=value, Type="SecureString",
                          Overwrite=True)


def write_seed(role: str = "app") -> Path:
    text = user_data(role)
    folder = STATE / f"seed-{role}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in seed_files(text, f"golden-local-{role}").items():
        (folder / name).write_text(content)
    return folder


def start_standins(*, build_twin: bool = True) -> Path:
    """Everything but the twin: CA, secrets, images, stand-ins, S3/SSM seeded. Returns the
    NoCloud seed folder for a twin of the app role."""
    for tool in ("docker", "openssl"):
        if shutil.which(tool) is None:
            raise ConfigError(f"{tool} not found on PATH: install it (apt-get install {tool})")
    containers.network_ensure(twin.NETWORK, twin.SUBNET)
    tls = ensure_tls()
    secret_values = ensure_secrets()
    base = baseimage.build(baseimage.BaseImageSpec())["image"]
    image = build_standins(base)
    if build_twin:
        twin.build("app", ca_bundle=tls / "ca.pem")
    for standin in STANDINS:
        start_standin(standin, image, tls)
    for standin in STANDINS:
        wait_until(lambda s=standin: _port_open(s.host_port), timeout=90, interval=0.5,
                   what=f"{standin.name} on 127.0.0.1:{standin.host_port}")
    eprint("stand-ins up; seeding S3 and SSM")
    wait_until(lambda: _try(seed_aws, secret_values), timeout=30, interval=1,
               what="the AWS emulator to accept the seed")
    return write_seed("app")


def up(port: int = 8080, *, build: bool = True) -> dict:
    started = time.monotonic()
    seed = start_standins(build_twin=build)
    result = ensure_twin(port, seed)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _try(func, *args) -> bool:
    try:
        func(*args)
        return True
    except Exception:  # noqa: BLE001 - retried until the deadline, then reported
        return False


def ensure_twin(port: int, seed: Path) -> dict:
    """Boot the twin, or keep the one running from the same image and seed."""
    image = containers.image_inspect(twin.image_name("app"))
    state = containers.container_state(TWIN_NAME)
    seed_hash = hashlib.sha256((seed / "user-data").read_bytes()).hexdigest()[:16]
    if (state and state["State"]["Running"] and state["Image"] == image["Id"]
            and state["Config"]["Labels"].get("io.golden.seed") == seed_hash
            and twin.healthz(port) == 200):
        return {"twin": TWIN_NAME, "url": f"http://127.0.0.1:{port}", "reused": True}
    spec = twin.TwinSpec(role="app", name=TWIN_NAME, port=port, seed_dir=str(seed),
                         labels=(("io.golden.seed", seed_hash),))
    result = twin.up(spec, wait=180)
    return {"twin": TWIN_NAME, "url": result["url"], "reused": False,
            "healthy_after_s": result["healthy_after_s"]}


def status(port: int = 8080) -> list[dict]:
    rows = []
    for standin in STANDINS:
        state = containers.container_state(standin.name)
        rows.append({"service": standin.name, "endpoint": f"127.0.0.1:{standin.host_port}",
                     "state": state["State"]["Status"] if state else "absent"})
    state = containers.container_state(TWIN_NAME)
    rows.append({"service": TWIN_NAME, "endpoint": f"http://127.0.0.1:{port}",
                 "state": state["State"]["Status"] if state else "absent"})
    return rows


def dependency_status(port: int = 8080) -> dict:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/deps", timeout=20) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise OperationFailed(f"/healthz/deps on 127.0.0.1:{port}: {exc}") from None


def down(*, purge: bool = False) -> dict:
    removed = []
    for name in [TWIN_NAME] + [s.name for s in STANDINS]:
        if containers.container_state(name):
            containers.remove_container(name)
            removed.append(name)
    if purge:
        run(["rm", "-rf", "--one-file-system", str(STATE)], check=False)
    return {"removed": removed, "data": "purged" if purge else f"kept in {STATE}"}
