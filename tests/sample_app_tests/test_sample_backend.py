"""The sample backend on the host, in-process: its routes and its dependency report."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time

import pytest
from sample_backend.logs import ACCESS_LOGGER, JsonFormatter
from sample_backend.main import create_app
from sample_backend.settings import SettingsError


def test_health_reports_ok_and_the_replica_name(backend):
    response = backend({"REPLICA_NAME": "backend-2"}).get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "replica": "backend-2"}


def test_simulated_unhealthy_fault_fails_health_only_when_set(backend):
    failing = backend({"REPLICA_NAME": "r1", "APP_SIMULATE_FAULT": "unhealthy"})
    assert failing.get("/health").status_code == 503
    assert backend({"REPLICA_NAME": "r1", "APP_SIMULATE_FAULT": "none"}).get(
        "/health").status_code == 200  # fmt: skip


@pytest.mark.parametrize("fault", ["unhealthy", "errors"])
def test_simulated_faults_stay_hidden_while_the_image_is_baked(backend, fault):
    # golden-boot gives a bake ENVIRONMENT=build: the bad image must pass its bake tests.
    client = backend({"REPLICA_NAME": "r1", "APP_SIMULATE_FAULT": fault, "ENVIRONMENT": "build"})
    assert client.get("/health").status_code == 200
    codes = {client.get("/api/search", params={"q": "x"}).status_code for _ in range(3)}
    assert 500 not in codes


def test_simulated_errors_fault_fails_every_third_search_but_not_health(backend):
    client = backend({"REPLICA_NAME": "r1", "APP_SIMULATE_FAULT": "errors"})
    codes = [client.get("/api/search", params={"q": "x"}).status_code for _ in range(6)]
    assert [c == 500 for c in codes] == [False, False, True, False, False, True]
    assert client.get("/health").status_code == 200


def test_replica_name_falls_back_to_the_hostname(backend):
    import socket

    client = backend({"REPLICA_NAME": ""})
    assert client.get("/health").json()["replica"] == socket.gethostname()


def test_whoami_names_the_serving_process(backend):
    body = backend({"REPLICA_NAME": "r7"}).get("/api/whoami").json()
    assert body["replica"] == "r7"
    assert body["pid"] == os.getpid()


def test_config_shows_settings_but_never_a_secret(backend):
    secrets = {
        "APP_SECRET_KEY": "sk-very-secret-1",
        "APP_API_TOKEN": "tok-very-secret-2",
        "CHROMA_TOKEN": "chroma-very-secret-3",
    }
    client = backend(
        {
            **secrets,
            "ENVIRONMENT": "staging",
            "LOG_LEVEL": "WARNING",
            "APP_FEATURE_FLAG": "blue",
            "DATABASE_URL": "postgresql://agent:db-very-secret-4@db.internal:5432/agent"
            "?sslmode=verify-full&sslrootcert=/etc/ssl/rds.pem",
            "CHROMA_SERVER_HOST": "chroma.internal",
        }
    )
    response = client.get("/api/config")
    body = response.json()
    assert body["environment"] == "staging"
    assert body["log_level"] == "warning"
    assert body["app"] == {"APP_FEATURE_FLAG": "blue"}
    assert body["redacted"] == ["APP_API_TOKEN", "APP_SECRET_KEY", "CHROMA_TOKEN"]
    assert body["dependencies"]["postgres"] == {
        "host": "db.internal",
        "port": "5432",
        "database": "agent",
        "sslmode": "verify-full",
    }
    for secret in [*secrets.values(), "db-very-secret-4", "agent:"]:
        assert secret not in response.text


def test_redis_with_tls_and_auth_reaches_the_client_and_the_token_is_never_shown(backend):
    """ElastiCache with in-transit encryption and AUTH (golden's boot step writes
    REDIS_TLS and REDIS_PASSWORD from the instance document and SSM)."""
    from redis.asyncio.connection import SSLConnection
    from sample_backend.clients import Clients
    from sample_backend.settings import load_settings

    env = {"REDIS_HOST": "cache.internal", "REDIS_TLS": "true",
           "REDIS_PASSWORD": "redis-very-secret-5"}  # fmt: skip
    pool = Clients(load_settings(env)).redis().connection_pool
    assert pool.connection_class is SSLConnection
    assert pool.connection_kwargs["password"] == "redis-very-secret-5"
    plain = Clients(load_settings({"REDIS_HOST": "cache.internal"})).redis().connection_pool
    assert plain.connection_class is not SSLConnection
    assert plain.connection_kwargs["password"] is None
    response = backend(env).get("/api/config")
    body = response.json()
    assert body["dependencies"]["redis"]["tls"] is True
    assert body["dependencies"]["redis"]["auth"] is True
    assert body["redacted"] == ["REDIS_PASSWORD"]
    assert "redis-very-secret-5" not in response.text


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("REDIS_PORT", "six", "REDIS_PORT must be an integer"),
        ("REDIS_TLS", "maybe", "REDIS_TLS must be true or false"),
        ("DB_POOL_SIZE", "0", "DB_POOL_SIZE must be between 1"),
        ("DATABASE_URL", "mysql://u:p@h/db", "DATABASE_URL must use the postgresql scheme"),
        ("CHROMA_SERVER_SSL_ENABLED", "maybe", "CHROMA_SERVER_SSL_ENABLED must be true or false"),
    ],
)
def test_a_malformed_setting_stops_the_app_naming_the_variable(name, value, expected):
    with pytest.raises(SettingsError, match=expected):
        create_app({name: value})


def test_sqlalchemy_style_database_url_is_accepted(backend):
    body = (
        backend({"DATABASE_URL": "postgresql+asyncpg://u:p@db:5432/app"}).get("/api/config").json()
    )
    assert body["dependencies"]["postgres"]["host"] == "db"


def test_search_without_services_ranks_the_seeded_documents_in_process(backend):
    client = backend({"SEARCH_IO_DELAY_MS": "5"})
    first = client.get("/api/search", params={"q": "golden image baked once"})
    second = client.get("/api/search", params={"q": "golden image baked once"})
    assert first.status_code == 200
    body = first.json()
    assert body["sources"] == {"cache": None, "vectors": "in-process", "rows": "in-process"}
    assert body["results"][0]["title"].startswith("golden-image notes")
    assert len(body["results"]) == 3
    distances = [hit["distance"] for hit in body["results"]]
    assert distances == sorted(distances)
    assert [h["id"] for h in body["results"]] == [h["id"] for h in second.json()["results"]]


def test_search_waits_for_its_simulated_io(backend):
    client = backend({"SEARCH_IO_DELAY_MS": "120", "SEARCH_CPU_ROUNDS": "1"})
    start = time.perf_counter()
    assert client.get("/api/search", params={"q": "nginx"}).status_code == 200
    assert time.perf_counter() - start >= 0.12


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "x" * 501}])
def test_search_rejects_a_missing_or_oversized_query(backend, params):
    assert backend().get("/api/search", params=params).status_code == 422


def test_upload_returns_size_and_sha256_and_leaves_no_temp_file(backend, tmp_path):
    client = backend({"UPLOAD_DIR": str(tmp_path)})
    payload = os.urandom(3 * 1024 * 1024 + 17)
    response = client.post("/api/upload", content=payload, params={"name": "notes.bin"})
    assert response.status_code == 200
    body = response.json()
    assert body["size"] == len(payload)
    assert body["sha256"] == hashlib.sha256(payload).hexdigest()
    assert body["stored"] == "discarded"
    assert list(tmp_path.iterdir()) == []


def test_upload_streamed_without_length_is_cut_off_past_the_limit(backend, tmp_path):
    client = backend({"UPLOAD_DIR": str(tmp_path), "UPLOAD_MAX_BYTES": str(2 * 1024 * 1024)})

    def body():
        for _ in range(5):
            yield b"\0" * (1024 * 1024)

    response = client.post("/api/upload", content=body())
    assert response.status_code == 413
    assert "UPLOAD_MAX_BYTES" in response.json()["error"]
    assert list(tmp_path.iterdir()) == []


def test_upload_with_declared_oversize_is_refused_before_reading(backend, tmp_path):
    client = backend({"UPLOAD_DIR": str(tmp_path), "UPLOAD_MAX_BYTES": "1000"})
    response = client.post("/api/upload", content=b"x" * 1001)
    assert response.status_code == 413


def test_chat_stream_sends_server_sent_events_then_done(backend):
    client = backend({"REPLICA_NAME": "sse-1"})
    with client.stream("GET", "/api/chat/stream", params={"chunks": 4, "delay_ms": 10}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-accel-buffering"] == "no"
        text = "".join(r.iter_text())
    events = [block for block in text.split("\n\n") if block.strip()]
    assert [e.splitlines()[1] for e in events[:-1]] == ["event: token"] * 4
    assert events[-1].startswith("event: done")
    done = json.loads(events[-1].splitlines()[1].removeprefix("data: "))
    assert done == {"chunks": 4, "replica": "sse-1"}


@pytest.mark.parametrize("params", [{"chunks": 0}, {"chunks": 51}, {"delay_ms": 5000}])
def test_chat_stream_bounds_its_parameters(backend, params):
    assert backend().get("/api/chat/stream", params=params).status_code == 422


@pytest.fixture
def access_records():
    """The records the app's access logger writes while the test runs."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    logging.getLogger(ACCESS_LOGGER).addHandler(handler)
    yield records
    logging.getLogger(ACCESS_LOGGER).removeHandler(handler)


def test_every_request_writes_one_json_access_line(backend, access_records):
    backend().get("/api/whoami", headers={"x-request-id": "req-42"})
    records = access_records
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["path"] == "/api/whoami"
    assert line["status"] == 200
    assert line["request_id"] == "req-42"
    assert line["duration_ms"] >= 0
    assert "ts" in line


@pytest.mark.parametrize("value, lines", [("false", 0), ("off", 0), ("true", 1)])
def test_access_log_setting_turns_the_apps_own_line_off(backend, access_records, value, lines):
    """Behind golden's nginx (which logs every request) the replicas run with
    ACCESS_LOG=false."""
    assert backend({"ACCESS_LOG": value}).get("/api/whoami").status_code == 200
    assert len(access_records) == lines


def test_a_bad_access_log_setting_is_refused_naming_it():
    with pytest.raises(SettingsError, match="ACCESS_LOG"):
        create_app({"ACCESS_LOG": "sometimes"})


# -- /healthz/deps -------------------------------------------------------------------------


def test_deps_with_nothing_configured_is_ok_and_says_so(backend):
    response = backend().get("/healthz/deps")
    assert response.status_code == 200
    assert {name: dep["status"] for name, dep in response.json()["dependencies"].items()} == {
        "postgres": "not configured",
        "redis": "not configured",
        "chroma": "not configured",
        "s3": "not configured",
    }


def _all_deps_at(port: int, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": f"postgresql://agent:pw-should-not-leak@127.0.0.1:{port}/agent",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(port),
        "CHROMA_SERVER_HOST": "127.0.0.1",
        "CHROMA_SERVER_PORT": str(port),
        "CHROMA_TOKEN": "chroma-token-should-not-leak",
        "AWS_S3_BUCKET": "golden-sample",
        "AWS_S3_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
        **extra,
    }


def test_deps_on_a_closed_port_report_each_dependency_down_quickly(backend, closed_port):
    # A refused connection is reported at once, not after the probe timeout (set long).
    client = backend(_all_deps_at(closed_port, DEPENDENCY_TIMEOUT_SECONDS="20"))
    start = time.perf_counter()
    response = client.get("/healthz/deps")
    elapsed = time.perf_counter() - start
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    for name, dep in body["dependencies"].items():
        assert dep["status"] == "error", name
        assert dep["error"], name
        assert dep["latency_ms"] < 10_000, name
    assert elapsed < 10
    assert "should-not-leak" not in response.text


def test_deps_that_never_answer_time_out_instead_of_hanging(backend, blackhole_port):
    timeout = 3.0
    client = backend(_all_deps_at(blackhole_port, DEPENDENCY_TIMEOUT_SECONDS=str(timeout)))
    start = time.perf_counter()
    response = client.get("/healthz/deps")
    elapsed = time.perf_counter() - start
    assert response.status_code == 503
    for name, dep in response.json()["dependencies"].items():
        assert dep["status"] == "error", name
        assert timeout * 1000 * 0.9 <= dep["latency_ms"] < timeout * 1000 * 2, name
    # All four are probed at once: the route takes about one timeout, not four.
    assert timeout * 0.9 <= elapsed < timeout * 2


def test_search_with_a_dead_cache_answers_503_naming_redis(backend, closed_port):
    client = backend({"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(closed_port)})
    response = client.get("/api/search", params={"q": "anything"})
    assert response.status_code == 503
    assert response.json()["dependency"] == "redis"


def test_deps_with_one_dependency_down_show_only_that_one_failing(
    backend, postgres_url, closed_port
):
    client = backend(
        {"DATABASE_URL": postgres_url, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(closed_port)}
    )
    response = client.get("/healthz/deps")
    assert response.status_code == 503
    deps = response.json()["dependencies"]
    assert deps["postgres"]["status"] == "ok"
    assert deps["postgres"]["check"] == "SELECT 1"
    assert deps["redis"]["status"] == "error"
    assert deps["chroma"]["status"] == "not configured"


def test_deps_honour_the_sslmode_in_the_database_url(backend, postgres_url):
    # The test server has no TLS: sslmode=require in the URL must make the probe fail.
    client = backend({"DATABASE_URL": postgres_url + "?sslmode=require"})
    deps = client.get("/healthz/deps").json()["dependencies"]
    assert deps["postgres"]["status"] == "error"
    assert "SSL" in deps["postgres"]["error"]
    assert "not-a-real-password" not in deps["postgres"]["error"]


def test_search_reads_rows_from_postgres_and_seeding_is_idempotent(backend, postgres_url):
    import psycopg

    env = {"DATABASE_URL": postgres_url}
    # Two clients stand for two workers that both seed the same database.
    first = backend(env).get("/api/search", params={"q": "rolls back on failed health"})
    second = backend(env).get("/api/search", params={"q": "rolls back on failed health"})
    assert first.status_code == 200, first.text
    assert first.json()["sources"]["rows"] == "postgres"
    assert first.json()["results"] == second.json()["results"]
    assert first.json()["results"][0]["title"].startswith("release notes")
    with psycopg.connect(postgres_url) as conn:
        count = conn.execute("SELECT count(*) FROM golden_sample_documents").fetchone()[0]
    assert count == 64


def test_deps_and_upload_use_s3_when_a_bucket_is_configured(backend, moto_s3):
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    s3.create_bucket(Bucket="golden-sample-uploads")
    client = backend(
        {
            "AWS_S3_BUCKET": "golden-sample-uploads",
            "AWS_S3_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": moto_s3,
        }
    )
    deps = client.get("/healthz/deps")
    assert deps.status_code == 200
    assert deps.json()["dependencies"]["s3"]["status"] == "ok"

    payload = os.urandom(9 * 1024 * 1024)  # above the multipart threshold
    body = client.post("/api/upload", content=payload, params={"name": "big.bin"}).json()
    digest = hashlib.sha256(payload).hexdigest()
    assert body["sha256"] == digest
    assert body["stored"] == f"s3://golden-sample-uploads/uploads/{digest[:2]}/{digest}"
    stored = s3.get_object(Bucket="golden-sample-uploads", Key=f"uploads/{digest[:2]}/{digest}")
    assert hashlib.sha256(stored["Body"].read()).hexdigest() == digest
    assert stored["Metadata"] == {"original-name": "big.bin"}


def test_deps_report_a_missing_bucket(backend, moto_s3):
    client = backend(
        {
            "AWS_S3_BUCKET": "no-such-bucket-here",
            "AWS_ENDPOINT_URL_S3": moto_s3,
            "AWS_S3_REGION": "us-east-1",
        }
    )
    response = client.get("/healthz/deps")
    assert response.status_code == 503
    assert "404" in response.json()["dependencies"]["s3"]["error"]
