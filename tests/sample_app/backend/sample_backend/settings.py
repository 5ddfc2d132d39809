"""Settings read once from the environment, with the seed application's variable names.

A malformed value stops the app at start-up with the variable's name, instead of surfacing
later as a confusing connection error."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


class SettingsError(ValueError):
    pass


# Any variable whose name looks like it carries a credential is reported by name only.
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSW|KEY|CREDENTIAL|PRIVATE|AUTH", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def _int(env: Mapping[str, str], name: str, default: int, low: int = 0, high: int = 1 << 31) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def normalise_database_url(url: str) -> str:
    """libpq wants postgresql://; the seed may carry an SQLAlchemy form (postgresql+asyncpg://)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingsError("DATABASE_URL must look like postgresql://user:password@host:port/db")
    base = scheme.split("+", 1)[0].lower()
    if base not in ("postgresql", "postgres"):
        raise SettingsError(f"DATABASE_URL must use the postgresql scheme, got {scheme!r}")
    return f"postgresql://{rest}"


def describe_database_url(url: str) -> dict[str, str | None]:
    """Where the database is, without user or password: safe to print."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return {
        "host": parts.hostname,
        "port": str(parts.port or 5432),
        "database": parts.path.lstrip("/") or None,
        "sslmode": query.get("sslmode", [None])[0],
    }


@dataclass(frozen=True)
class Settings:
    replica: str
    environment: str
    log_level: str
    # The app's own JSON access line per request. Behind a proxy that logs every request
    # (golden's nginx) it says the same thing again: golden turns it off (ACCESS_LOG=false).
    access_log: bool
    web_concurrency: str | None
    database_url: str | None
    db_pool_size: int
    db_max_overflow: int
    redis_host: str | None
    redis_port: int
    redis_db: int
    # ElastiCache with in-transit encryption and AUTH (golden's boot step writes these from
    # instance.redis.tls / .auth and the SSM redis_auth_token).
    redis_tls: bool
    redis_password: str | None = field(repr=False)
    chroma_host: str | None
    chroma_port: int
    chroma_ssl: bool
    chroma_token: str | None = field(repr=False)
    chroma_collection: str
    s3_bucket: str | None
    s3_region: str | None
    s3_endpoint: str | None
    dependency_timeout: float
    search_cpu_rounds: int
    search_io_delay_ms: int
    search_cache_ttl: int
    upload_dir: str | None
    upload_max_bytes: int
    app_settings: dict[str, str]
    redacted: tuple[str, ...]

    def public_view(self) -> dict:
        """What /api/config shows: never a secret, never a password inside a URL."""
        deps: dict[str, object] = {
            "postgres": describe_database_url(self.database_url) if self.database_url else None,
            "redis": (
                {"host": self.redis_host, "port": self.redis_port, "db": self.redis_db,
                 "tls": self.redis_tls, "auth": self.redis_password is not None}
                if self.redis_host
                else None
            ),
            "chroma": (
                {
                    "host": self.chroma_host,
                    "port": self.chroma_port,
                    "token_set": bool(self.chroma_token),
                }
                if self.chroma_host
                else None
            ),
            "s3": (
                {"bucket": self.s3_bucket, "region": self.s3_region, "endpoint": self.s3_endpoint}
                if self.s3_bucket
                else None
            ),
        }
        return {
            "replica": self.replica,
            "environment": self.environment,
            "log_level": self.log_level,
            "access_log": self.access_log,
            "web_concurrency": self.web_concurrency,
            "db_pool_size": self.db_pool_size,
            "db_max_overflow": self.db_max_overflow,
            "app": dict(sorted(self.app_settings.items())),
            "redacted": list(self.redacted),
            "dependencies": deps,
        }


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    database_url = _optional(env, "DATABASE_URL")
    if database_url:
        database_url = normalise_database_url(database_url)
    app_settings = {k: v for k, v in env.items() if k.startswith("APP_") and not is_secret_name(k)}
    # Named, never shown: shows a secret reached the app without printing it.
    redacted = tuple(
        sorted(
            k
            for k in env
            if is_secret_name(k)
            and (k.startswith("APP_") or k in ("CHROMA_TOKEN", "REDIS_PASSWORD"))
        )
    )
    return Settings(
        replica=env.get("REPLICA_NAME", "").strip() or socket.gethostname(),
        environment=env.get("ENVIRONMENT", "development").strip() or "development",
        log_level=(env.get("LOG_LEVEL", "info").strip() or "info").lower(),
        access_log=_bool(env, "ACCESS_LOG", True),
        web_concurrency=_optional(env, "WEB_CONCURRENCY"),
        database_url=database_url,
        db_pool_size=_int(env, "DB_POOL_SIZE", 5, 1, 1000),
        db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 10, 0, 1000),
        redis_host=_optional(env, "REDIS_HOST"),
        redis_port=_int(env, "REDIS_PORT", 6379, 1, 65535),
        redis_db=_int(env, "REDIS_DB", 0, 0, 1024),
        redis_tls=_bool(env, "REDIS_TLS", False),
        redis_password=_optional(env, "REDIS_PASSWORD"),
        chroma_host=_optional(env, "CHROMA_SERVER_HOST"),
        chroma_port=_int(env, "CHROMA_SERVER_PORT", 8000, 1, 65535),
        chroma_ssl=_bool(env, "CHROMA_SERVER_SSL_ENABLED", False),
        chroma_token=_optional(env, "CHROMA_TOKEN"),
        chroma_collection=env.get("CHROMA_COLLECTION", "").strip() or "golden-sample-docs",
        s3_bucket=_optional(env, "AWS_S3_BUCKET"),
        s3_region=_optional(env, "AWS_S3_REGION") or _optional(env, "AWS_DEFAULT_REGION"),
        s3_endpoint=_optional(env, "AWS_ENDPOINT_URL_S3") or _optional(env, "AWS_ENDPOINT_URL"),
        dependency_timeout=_float(env, "DEPENDENCY_TIMEOUT_SECONDS", 2.0, 0.05, 30.0),
        search_cpu_rounds=_int(env, "SEARCH_CPU_ROUNDS", 8, 0, 10_000),
        search_io_delay_ms=_int(env, "SEARCH_IO_DELAY_MS", 25, 0, 10_000),
        search_cache_ttl=_int(env, "SEARCH_CACHE_TTL_SECONDS", 60, 0, 86_400),
        upload_dir=_optional(env, "UPLOAD_DIR"),
        upload_max_bytes=_int(env, "UPLOAD_MAX_BYTES", 100 * 1024 * 1024, 1, 1 << 40),
        app_settings=app_settings,
        redacted=redacted,
    )
