"""The boot step, run on the instance by golden-boot.service before app.service.

It reads /etc/golden/instance.json (written by cloud-init from the launch template's user
data), fetches the secrets under the document's SSM path with the instance's own role,
writes /etc/app/app.env (0600, atomically) with the plan's variable names, records the
runtime decisions (replicas, worker cap, log group prefix) as a grain and re-renders the
configuration that depends on them (nginx upstream, compose project, CloudWatch agent).

Any failure removes /etc/app/app.env and exits non-zero naming the field or parameter:
app.service requires this unit, so no backend starts, /healthz fails and the Auto Scaling
group replaces the instance. The decisions are pure functions; the effects are at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from golden.core import awsclient, instance_doc
from golden.core.errors import ConfigError, GoldenError, OperationFailed

INSTANCE_JSON = Path("/etc/golden/instance.json")
APP_ENV = Path("/etc/app/app.env")
RDS_CA_BUNDLE = Path("/etc/golden/certs/rds-ca-bundle.pem")
# provision.sh creates it for the length of a build: /run is a tmpfs, so it can never
# reach an image. In a build the app runs without an environment for the in-image tests.
BUILD_MARKER = Path("/run/golden/build")
SALT_CALL = "/opt/salt/bin/salt-call"
# Connections per gunicorn worker. With 2 replicas x 1 worker (2 vCPUs) x 4 instances this stays
# far below a db.t3.medium's max_connections (about 400), with room to scale out.
DB_POOL_SIZE = 5
DB_MAX_OVERFLOW = 5
# Only with aws.endpoint_url (the local emulator), which takes any credentials; on AWS the
# instance profile provides them through IMDSv2 and nothing is set here.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "emulator", "AWS_SECRET_ACCESS_KEY": "emulator"}


# Least privilege: each role reads only the secrets it uses.
SECRETS_BY_ROLE = {"app": instance_doc.SECRET_NAMES, "chroma": ("chroma_token",)}
CHROMA_TOKEN = Path("/etc/chroma/token")


# ElastiCache with AUTH (instance.redis.auth): the token the foundation stack set on it.
REDIS_AUTH_TOKEN = "redis_auth_token"


def ssm_parameter_names(doc: dict) -> dict[str, str]:
    path = doc["ssm"]["path"].rstrip("/")
    names = list(SECRETS_BY_ROLE[doc["role"]])
    if doc["role"] == "app" and doc["redis"].get("auth"):
        names.append(REDIS_AUTH_TOKEN)
    return {name: f"{path}/{name}" for name in names}


def database_url(doc: dict, password: str) -> str:
    db = doc["database"]
    query = f"sslmode={db.get('sslmode', 'verify-full')}"
    if db.get("sslmode", "verify-full") == "verify-full":
        query += f"&sslrootcert={RDS_CA_BUNDLE}"
    user = quote(db["user"], safe="")
    return (f"postgresql://{user}:{quote(password, safe='')}@{db['host']}:{db['port']}/"
            f"{quote(db['name'], safe='')}?{query}")


def app_environment(doc: dict, secrets: dict[str, str]) -> dict[str, str]:
    """The app's environment, with the plan's variable names (section 13)."""
    overrides = doc.get("overrides") or {}
    env = {
        "DATABASE_URL": database_url(doc, secrets["db_password"]),
        "DB_POOL_SIZE": str(DB_POOL_SIZE),
        "DB_MAX_OVERFLOW": str(DB_MAX_OVERFLOW),
        "REDIS_HOST": doc["redis"]["host"],
        "REDIS_PORT": str(doc["redis"]["port"]),
        "REDIS_DB": str(doc["redis"]["db"]),
        "CHROMA_SERVER_HOST": doc["chroma"]["host"],
        "CHROMA_SERVER_PORT": str(doc["chroma"]["port"]),
        "CHROMA_TOKEN": secrets["chroma_token"],
        "AWS_S3_BUCKET": doc["s3"]["bucket"],
        "AWS_S3_REGION": doc["s3"]["region"],
        "AWS_DEFAULT_REGION": doc["region"],
        "ENVIRONMENT": doc["environment"],
        "LOG_LEVEL": overrides.get("log_level", "INFO"),
        "APP_SECRET_KEY": secrets["app_secret_key"],
    }
    if doc["redis"].get("tls"):
        env["REDIS_TLS"] = "true"
    if doc["redis"].get("auth"):
        env["REDIS_PASSWORD"] = secrets[REDIS_AUTH_TOKEN]
    endpoint = (doc.get("aws") or {}).get("endpoint_url")
    if endpoint:
        env.update({"AWS_ENDPOINT_URL": endpoint, **EMULATOR_CREDENTIALS})
    return env


def build_environment() -> dict[str, str]:
    return {"ENVIRONMENT": "build", "LOG_LEVEL": "INFO"}


def _quote_env_value(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ConfigError("an environment value contains a line break")
    # Single quotes: Compose takes the value literally (no ${} interpolation).
    if "'" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return f'"{escaped}"'


def env_file_text(env: dict[str, str]) -> str:
    lines = ["# Written at boot by golden-boot.service; secrets from SSM. Do not edit."]
    lines += [f"{key}={_quote_env_value(value)}" for key, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


def runtime_grain(doc: dict) -> dict:
    """Boot-time decisions Salt renders with (app/map.jinja, cloudwatch/map.jinja)."""
    overrides = doc.get("overrides") or {}
    grain = {"environment": doc["environment"], "log_group_prefix": doc["logs"]["group_prefix"]}
    for key in ("backend_replicas", "worker_cap"):
        if key in overrides:
            grain[key] = overrides[key]
    return grain


# -- effects ----------------------------------------------------------------------------------


def read_instance_doc(path: Path = INSTANCE_JSON) -> dict:
    if not path.exists():
        raise ConfigError(f"{path}: missing (cloud-init writes it from the launch template's "
                          "user data; is this instance launched from a golden template?)")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    return instance_doc.validate(doc, source=str(path))


def fetch_secrets(doc: dict) -> dict[str, str]:
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    names = ssm_parameter_names(doc)
    endpoint = (doc.get("aws") or {}).get("endpoint_url") or None
    # An endpoint in the document is the local emulator's: dummy keys, no profile.
    aws = awsclient.session(endpoint, emulator=bool(endpoint))
    client = aws.client("ssm", region_name=doc["region"], endpoint_url=endpoint,
                        config=Config(retries={"mode": "adaptive", "max_attempts": 5},
                                      connect_timeout=5, read_timeout=10))
    try:
        reply = client.get_parameters(Names=list(names.values()), WithDecryption=True)
    except (BotoCoreError, ClientError) as exc:
        raise OperationFailed(f"SSM: reading {doc['ssm']['path']} failed: {exc}") from None
    found = {p["Name"]: p for p in reply.get("Parameters", [])}
    missing = [full for full in names.values() if full not in found]
    if missing:
        raise ConfigError(f"SSM parameter {', '.join(missing)} not found "
                          f"(expected SecureString parameters under {doc['ssm']['path']})")
    not_secure = [full for full in names.values() if found[full].get("Type") != "SecureString"]
    if not_secure:
        raise ConfigError(f"SSM parameter {', '.join(not_secure)}: expected type SecureString")
    return {short: found[full]["Value"] for short, full in names.items()}


def write_atomically(path: Path, text: str, mode: int = 0o600) -> None:
    """Never a partial file: write a private temporary file beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# What depends on the runtime grain, per role. Only config states: the services are
# ordered after this unit and start with the new files.
# chroma.logs: the Chroma host's own agent config names log groups by the prefix too.
# base.sysctl: the ports reserved for the backend replicas follow their number.
RERENDER_BY_ROLE = {"app": "app.config,nginx.config,cloudwatch,base.sysctl",
                    "chroma": "cloudwatch,chroma.logs"}


def apply_runtime(grain: dict, role: str) -> None:
    """Record the runtime grain and re-render what depends on it."""
    # Salt has no "quiet" outputter: it would log an ERROR on every boot and fall back.
    subprocess.run([SALT_CALL, "--local", "--out=json", "grains.setval", "golden_runtime",
                    json.dumps(grain)], check=True, timeout=120, capture_output=True)
    proc = subprocess.run(
        [SALT_CALL, "--local", "--retcode-passthrough", "--state-verbose=False",
         "state.apply", RERENDER_BY_ROLE[role]],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        raise OperationFailed("re-rendering the runtime configuration failed:\n"
                              + "\n".join(proc.stdout.splitlines()[-30:]))
    # A manual re-run on a live instance: pick up a new upstream without a restart.
    if subprocess.run(["systemctl", "is-active", "--quiet", "nginx"]).returncode == 0:
        subprocess.run(["systemctl", "reload", "--no-block", "nginx"], check=False)


def stop_app_containers() -> None:
    """After an unclean shutdown dockerd restarts what was running, app.service or not:
    a failed boot stops the app's containers so /healthz keeps failing."""
    try:
        ids = subprocess.run(["docker", "ps", "-q", "--filter",
                              "label=com.docker.compose.project=app"],
                             capture_output=True, text=True, timeout=30).stdout.split()
        if ids:
            subprocess.run(["docker", "stop", "--time", "10", *ids], capture_output=True,
                           timeout=60)
    except (OSError, subprocess.SubprocessError):
        pass  # no docker (a unit test, a broken image): nothing of ours can be running


def boot(instance_json: Path = INSTANCE_JSON, app_env: Path = APP_ENV) -> dict:
    started = time.monotonic()
    try:
        if not instance_json.exists() and BUILD_MARKER.exists():
            write_atomically(app_env, env_file_text(build_environment()))
            return {"mode": "build", "env_file": str(app_env)}
        doc = read_instance_doc(instance_json)
        print(f"golden-boot: {doc['environment']} / {doc['role']}: fetching secrets under "
              f"{doc['ssm']['path']}", file=sys.stderr, flush=True)
        secrets = fetch_secrets(doc)
        if doc["role"] == "chroma":
            # The Chroma host's authenticating proxy compares bearer tokens with this file
            # (salt/chroma builds nginx's map from it before nginx starts).
            write_atomically(CHROMA_TOKEN, secrets["chroma_token"])
        else:
            write_atomically(app_env, env_file_text(app_environment(doc, secrets)))
        grain = runtime_grain(doc)
        apply_runtime(grain, doc["role"])
    except (GoldenError, subprocess.SubprocessError, OSError):
        app_env.unlink(missing_ok=True)
        stop_app_containers()
        raise
    return {"mode": "instance", "environment": doc["environment"], "role": doc["role"],
            "env_file": str(app_env), "runtime": grain,
            "seconds": round(time.monotonic() - started, 2)}
