"""Where the environment's services are, as the operator's machine reaches them, and the
credentials from SSM Parameter Store.

The target is what the environment's instances are told (the instance settings document
of the app role: database host/port/name/user/sslmode, the S3 bucket, the Chroma host,
the SSM path), so the cutover writes exactly where the app will read. Two differences:

- the CA bundle: instances have /etc/golden/certs/rds-ca-bundle.pem; here ``--ca-bundle``,
  by default the one the AWS bake stages (build/certs/rds-ca-bundle.pem);
- ENV ``local``: the instance document names the local stack's containers by their
  network names (golden-local-postgres:5432, ...); from this machine they are their
  published loopback ports (``golden local up``), with the local CA under .state/local.

The password is the SecureString ``db_password`` under the SSM path, read like the boot
step reads it; ``chroma_token`` too when present (the Chroma host's authenticating
proxy). Neither is ever printed or written to a report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from golden.core import awsclient
from golden.core.errors import ConfigError, PreflightError
from golden.core.provenance import repo_root

DEFAULT_CA_BUNDLE = Path("build") / "certs" / "rds-ca-bundle.pem"
SECRET_DB = "db_password"
SECRET_CHROMA = "chroma_token"


@dataclass(frozen=True)
class Target:
    environment: str
    region: str
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    sslmode: str
    ca_bundle: str | None
    bucket: str
    bucket_region: str
    chroma_host: str
    chroma_port: int
    ssm_path: str
    # None: boto3's own resolution (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the
    # environment's aws.endpoint_url, else AWS).
    aws_endpoint: str | None = None

    def public(self) -> dict:
        """What a plan or report shows: where, never a credential."""
        return {
            "environment": self.environment,
            "database": f"{self.db_user}@{self.db_host}:{self.db_port}/{self.db_name} "
                        f"(sslmode {self.sslmode})",
            "bucket": f"s3://{self.bucket} ({self.bucket_region})",
            "chroma": f"http://{self.chroma_host}:{self.chroma_port}",
            "ssm_path": self.ssm_path,
        }


@dataclass(frozen=True)
class Credentials:
    db_password: str = field(repr=False)
    chroma_token: str | None = field(default=None, repr=False)


def rewrite(host: str, port: int, table: dict[tuple[str, int], tuple[str, int]]):
    return table.get((host, port), (host, port))


def from_document(doc: dict, *, ca_bundle: str | None, aws_endpoint: str | None,
                  rewrites: dict[tuple[str, int], tuple[str, int]] | None = None) -> Target:
    """The target from an (app role) instance settings document. ``rewrites`` maps a
    (host, port) the instances use to the one this machine uses. Raises ConfigError when
    TLS is verified but no CA bundle is given."""
    rewrites = rewrites or {}
    db = doc["database"]
    db_host, db_port = rewrite(db["host"], db["port"], rewrites)
    chroma_host, chroma_port = rewrite(doc["chroma"]["host"], doc["chroma"]["port"], rewrites)
    if db["sslmode"] == "verify-full" and not ca_bundle:
        raise ConfigError("--ca-bundle: the database is reached with sslmode verify-full and "
                          "needs the CA bundle that signed its certificate")
    return Target(
        environment=doc["environment"], region=doc["region"], db_host=db_host,
        db_port=db_port, db_name=db["name"], db_user=db["user"], sslmode=db["sslmode"],
        ca_bundle=ca_bundle if db["sslmode"] == "verify-full" else None,
        bucket=doc["s3"]["bucket"], bucket_region=doc["s3"]["region"],
        chroma_host=chroma_host, chroma_port=chroma_port, ssm_path=doc["ssm"]["path"],
        aws_endpoint=aws_endpoint,
    )


def rewrite_url(url: str | None, table: dict[tuple[str, int], tuple[str, int]]) -> str | None:
    if not url:
        return url
    parts = urlsplit(url)
    host, port = rewrite(parts.hostname or "", parts.port or 80, table)
    if (host, port) == (parts.hostname, parts.port or 80):
        return url
    return urlunsplit((parts.scheme, f"{host}:{port}", parts.path, parts.query, ""))


def resolve(env: str, *, ca_bundle: str | None = None) -> Target:
    """The target of environment ``env`` (a name or a settings file's path, as for
    ``golden env``)."""
    from autoscaling import settings

    environment = settings.load(env)
    doc = environment.instance_document("app")
    if environment.name == "local" and not Path(env).suffix:
        from golden.twin import localstack

        table = {(s.name, s.port): ("127.0.0.1", s.host_port) for s in localstack.STANDINS}
        default_ca = localstack.STATE / "tls" / "ca.pem"
        endpoint = rewrite_url(doc["aws"]["endpoint_url"], table)
        return from_document(doc, ca_bundle=_ca(ca_bundle, default_ca, doc),
                             aws_endpoint=endpoint, rewrites=table)
    return from_document(doc, ca_bundle=_ca(ca_bundle, repo_root() / DEFAULT_CA_BUNDLE, doc),
                         aws_endpoint=environment.endpoint_url)


def _ca(given: str | None, default: Path, doc: dict) -> str | None:
    if doc["database"]["sslmode"] != "verify-full":
        return None
    path = Path(given) if given else default
    if not path.is_file():
        raise ConfigError(f"--ca-bundle: {path}: no such file (the CA bundle that signed the "
                          "database's certificate; for RDS the region's bundle from AWS)")
    return str(path.resolve())


def client(target: Target, service: str, config=None):
    """A boto3 client for the target's AWS (the emulator's dummy keys on loopback)."""
    return awsclient.client(service, region=target.region, endpoint=target.aws_endpoint,
                            config=config)


def fetch_credentials(target: Target) -> Credentials:
    """db_password (required) and chroma_token (optional) from SSM Parameter Store.
    Raises PreflightError naming the parameter."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    path = target.ssm_path.rstrip("/")
    names = {name: f"{path}/{name}" for name in (SECRET_DB, SECRET_CHROMA)}
    ssm = client(target, "ssm", Config(retries={"mode": "standard", "max_attempts": 3},
                                       connect_timeout=5, read_timeout=15))
    try:
        reply = ssm.get_parameters(Names=list(names.values()), WithDecryption=True)
    except (BotoCoreError, ClientError) as exc:
        raise PreflightError(f"SSM: reading {target.ssm_path} failed: {exc}") from None
    found = {p["Name"]: p["Value"] for p in reply.get("Parameters", [])}
    if names[SECRET_DB] not in found:
        raise PreflightError(f"SSM parameter {names[SECRET_DB]} not found (the database "
                             "password, a SecureString under the environment's ssm path)")
    return Credentials(db_password=found[names[SECRET_DB]],
                       chroma_token=found.get(names[SECRET_CHROMA]))
