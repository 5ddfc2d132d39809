"""`make local` end to end: the twin boots from launch-template user data, fetches its
secrets from the SSM emulator and reaches real PostgreSQL (TLS, verify-full), Redis,
Chroma and S3 stand-ins."""

import re
import time
import uuid

import pytest
from golden.twin import build as twin
from golden.twin import localstack

from .conftest import custom_seed, docker, get, wait_for


def test_every_dependency_ok_through_nginx(stack_twin):
    status, body = get(stack_twin["port"], "/healthz/deps")
    assert status == 200, body
    deps = body["dependencies"] if "dependencies" in body else body
    for name in ("postgres", "redis", "chroma", "s3"):
        match = [v for k, v in deps.items() if k.startswith(name)]
        assert match and match[0]["status"] == "ok", (name, deps)


def test_search_route_does_real_work(stack_twin):
    status, body = get(stack_twin["port"], "/api/search?q=golden+image")
    assert status == 200, body


def test_search_through_the_twin_returns_the_titles_postgresql_holds(stack_twin):
    """A SQL_ASCII database hands the app bytes where RDS hands text: titles came back null."""
    status, body = get(stack_twin["port"], "/api/search?q=release+rollback+drift")
    assert status == 200, body
    assert body["sources"]["rows"] == "postgres"
    titles = [r["title"] for r in body["results"]]
    assert titles and all(isinstance(t, str) and t for t in titles), body["results"]


def test_standins_behave_like_the_managed_services(local_standins, secret_values):
    """What an app can observe of RDS and ElastiCache: UTF8, the PostgreSQL major, TLS
    required; Redis 7 evicting volatile keys first."""
    import psycopg
    import redis

    db = localstack.environment_settings()["instance"]["database"]
    common = {"host": "127.0.0.1", "port": 15432, "user": db["user"], "dbname": db["name"],
              "password": secret_values["db_password"], "connect_timeout": 10}  # fmt: skip
    with psycopg.connect(sslmode="require", **common) as conn:
        encoding = conn.execute("SHOW server_encoding").fetchone()[0]
        version = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
        assert conn.execute("SHOW ssl").fetchone()[0] == "on"
    assert encoding == "UTF8"
    assert version == localstack.POSTGRES_MAJOR
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(sslmode="disable", **common).close()
    client = redis.Redis(host="127.0.0.1", port=16379, socket_timeout=10)
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lru"}
    assert client.info("server")["redis_version"].split(".")[0] == str(localstack.REDIS_MAJOR)


def test_env_file_holds_ssm_secrets_and_nothing_else_does(stack_twin, secret_values):
    name = stack_twin["name"]
    env = docker("exec", name, "cat", "/etc/app/app.env").stdout
    mode = docker("exec", name, "stat", "-c", "%a", "/etc/app/app.env").stdout.strip()
    assert mode == "600"
    for value in secret_values.values():
        assert value in env
    for where in ("/etc/golden", "/srv/salt", "/srv/pillar", "/var/lib/cloud", "/opt/app"):
        for value in secret_values.values():
            found = docker("exec", name, "grep", "-rlF", value, where, check=False)
            assert found.stdout.strip() == "", f"a secret is in {found.stdout.strip()}"
    image = twin.image_name("app")
    for value in secret_values.values():
        found = docker("run", "--rm", "--network", "none", "--entrypoint", "grep", image,
                       "-rlF", value, "/etc", "/opt", "/srv", "/var/lib", check=False,
                       timeout=300)
        assert found.stdout.strip() == "", f"a secret is baked into {found.stdout.strip()}"


def test_database_url_uses_verify_full_with_the_baked_ca(stack_twin):
    env = docker("exec", stack_twin["name"], "cat", "/etc/app/app.env").stdout
    url = next(line for line in env.splitlines() if line.startswith("DATABASE_URL="))
    assert "sslmode=verify-full" in url and "sslrootcert=/etc/golden/certs/rds-ca-bundle.pem" in url
    assert docker("exec", stack_twin["name"], "test", "-s",
                  "/etc/golden/certs/rds-ca-bundle.pem", check=False).returncode == 0


def test_redis_down_keeps_healthz_and_reports_redis(stack_twin):
    port = stack_twin["port"]
    docker("stop", "golden-local-redis")
    try:
        assert get(port, "/healthz")[0] == 200
        status, body = get(port, "/healthz/deps")
        assert status == 503
        deps = body["dependencies"] if "dependencies" in body else body
        redis = next(v for k, v in deps.items() if k.startswith("redis"))
        assert redis["status"] != "ok"
        assert all(v["status"] == "ok" for k, v in deps.items() if not k.startswith("redis"))
    finally:
        docker("start", "golden-local-redis")
    assert wait_for(lambda: get(port, "/healthz/deps")[0] == 200, timeout=60)


def test_missing_ssm_parameter_fails_boot_naming_it(local_standins, secret_values):
    import boto3

    settings = localstack.environment_settings()
    ssm = boto3.client("ssm", region_name=settings["region"],
                       endpoint_url=f"http://127.0.0.1:{localstack.STANDINS[3].host_port}",
                       aws_access_key_id="local", aws_secret_access_key="local")
    parameter = settings["instance"]["ssm_path"].rstrip("/") + "/db_password"
    spec = twin.TwinSpec(role="app", name=f"golden-fault-{uuid.uuid4().hex[:6]}", port=18082,
                         seed_dir=str(local_standins))
    twin.up(spec, wait=180)
    try:
        ssm.delete_parameter(Name=parameter)
        docker("restart", spec.name)  # a reboot: systemd starts again, boot step re-runs
        assert wait_for(lambda: docker("exec", spec.name, "systemctl", "is-failed",
                                       "golden-boot", check=False).stdout.strip() == "failed",
                        timeout=120)
        journal = docker("exec", spec.name, "journalctl", "-u", "golden-boot", "-b",
                         "--no-pager").stdout
        assert parameter in journal
        assert docker("exec", spec.name, "test", "-e", "/etc/app/app.env",
                      check=False).returncode != 0
        assert get(spec.port, "/healthz")[0] != 200
    finally:
        ssm.put_parameter(Name=parameter, Value=secret_values["db_password"],
                          Type="SecureString", Overwrite=True)
        twin.down(spec.name)


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["redis"].update(port="6379"), "redis.port"),
    (lambda d: d["database"].pop("host"), "database.host"),
])
def test_bad_instance_document_fails_boot_naming_the_field(tmp_path, local_standins, mutate,
                                                           field):
    seed = custom_seed(tmp_path, mutate)
    name = f"golden-fault-{uuid.uuid4().hex[:6]}"
    spec = twin.TwinSpec(role="app", name=name, port=18083, seed_dir=str(seed))
    try:
        # `twin up` stops waiting once the boot step has failed, and says why.
        with pytest.raises(twin.BootFailed, match=r"the boot step \(golden-boot\) failed") as err:
            twin.up(spec, wait=150)
        assert field in str(err.value)
        assert docker("exec", name, "systemctl", "is-failed", "golden-boot",
                      check=False).stdout.strip() == "failed"
        journal = docker("exec", name, "journalctl", "-u", "golden-boot", "--no-pager").stdout
        assert field in journal
        assert docker("exec", name, "test", "-e", "/etc/app/app.env", check=False).returncode != 0
    finally:
        twin.down(name)


# Golden's own units on the app role: a clean boot logs no error in any of them.
GOLDEN_UNITS = ("golden-boot", "app", "golden-sysctl", "nginx")


def test_a_clean_boot_logs_no_error_from_goldens_units(stack_twin):
    argv = ["exec", stack_twin["name"], "journalctl", "-b", "--no-pager", "-o", "cat"]
    for unit in GOLDEN_UNITS:
        argv += ["-u", unit]
    journal = docker(*argv).stdout
    assert "golden-boot:" in journal, journal  # the boot step's own lines are there
    bad = [line for line in journal.splitlines()
           if re.search(r"\[ERROR|\bERROR\b|Traceback|\bCRITICAL\b", line)]  # fmt: skip
    assert bad == [], "\n".join(bad)


def _backend_ids(name: str) -> dict[str, str]:
    out = docker("exec", name, "docker", "ps", "--filter", "label=com.docker.compose.project=app",
                 "--format", '{{.ID}} {{.Label "com.docker.compose.service"}}').stdout  # fmt: skip
    return {svc: cid for cid, svc in (line.split() for line in out.splitlines())}


def _under_load(port: int, action) -> tuple[object, list[int]]:
    """ACTION() while one client asks /healthz every 50 ms (at most 3000 times): its
    result and every status code answered meanwhile."""
    import threading

    codes: list[int] = []
    stop = threading.Event()

    def load():
        # /healthz: through nginx to the replicas, and not rate-limited (/api/ is, per
        # client, and every request here comes from one address).
        for _ in range(3000):
            if stop.is_set():
                return
            codes.append(get(port, "/healthz", timeout=10)[0])
            time.sleep(0.05)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        result = action()
    finally:
        stop.set()
        worker.join(60)
    return result, codes


def test_starting_the_app_on_a_serving_instance_takes_no_replica_down(stack_twin):
    """What a highstate or hotfix does when app.service is not active but Docker kept the
    replicas serving: a start that changes nothing keeps every container, and requests go
    on being answered throughout."""
    name, port = stack_twin["name"], stack_twin["port"]
    before = _backend_ids(name)
    unit_start = docker("exec", name, "systemctl", "show", "app", "-p", "ExecStart",
                        "--value").stdout  # fmt: skip
    argv = re.search(r"argv\[\]=([^;]+);", unit_start).group(1).split()
    assert "--start" in argv
    started, codes = _under_load(
        port, lambda: docker("exec", name, *argv, check=False, timeout=600))
    assert started.returncode == 0, started.stdout + started.stderr
    assert "already serving" in started.stdout
    assert _backend_ids(name) == before  # nothing changed: nothing recreated
    assert codes and all(code == 200 for code in codes), sorted(set(codes))


def test_systemctl_restart_app_takes_no_replica_down(stack_twin):
    """Issue 21 item 8: a restart ran ExecStop (compose stop) before the start, every
    replica down at once. Now its stop half leaves them serving."""
    name, port = stack_twin["name"], stack_twin["port"]
    before = _backend_ids(name)
    restarted, codes = _under_load(
        port, lambda: docker("exec", name, "systemctl", "restart", "app", check=False, timeout=600))
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert docker("exec", name, "systemctl", "is-active", "app", check=False).stdout.strip() \
        == "active"
    assert _backend_ids(name) == before
    assert codes and all(code == 200 for code in codes), sorted(set(codes))
