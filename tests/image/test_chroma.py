"""The Chroma host role: Chroma in its container on loopback only, its data on the volume
mounted at /var/lib/chroma, nginx in front accepting only `Authorization: Bearer <token>`
for the token in /etc/chroma/token (the Chroma 1.x server ignores its own token
settings), /healthz open for monitoring.

Inside a build the token is the build's throwaway one; from this machine the twin boots
without one (no SSM yet). Either way the `token` fixture writes a token of its own the way
the boot step does (atomically, mode 0600) and puts the previous state back afterwards."""

from __future__ import annotations

import json
import secrets
import shlex

import pytest

from .conftest import CHROMA_PROXY_PORT, http, wait_for

pytestmark = pytest.mark.chroma_role

TOKEN_FILE = "/etc/chroma/token"
BEARER_MAP = "/etc/nginx/chroma/bearer.map"
DATA = "/var/lib/chroma"
COLLECTIONS = "/api/v2/tenants/default_tenant/databases/default_database/collections"


def proxy(host, path, *headers, method="GET"):
    return http(host, path, *headers, method=method, port=CHROMA_PROXY_PORT)


def bearer(token):
    return f"Authorization: Bearer {token}"


def api(host, method, path, token, body=None):
    """(status, parsed JSON or text) of a request through the proxy."""
    data = f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}" if body else ""
    out = host.check_output(
        f"curl -s --max-time 20 -X {method} -H {shlex.quote(bearer(token))} {data} "
        f"-w '\\n%{{http_code}}' http://127.0.0.1:{CHROMA_PROXY_PORT}{path}"
    )
    text, _, code = out.rpartition("\n")
    try:
        return int(code), json.loads(text)
    except ValueError:
        return int(code), text


def write_token(host, token):
    # As the boot step does: a new file renamed into place, never readable by others.
    host.run_test(
        f"umask 077 && printf '%s\\n' {shlex.quote(token)} > {TOKEN_FILE}.new "
        f"&& mv {TOKEN_FILE}.new {TOKEN_FILE}"
    )


@pytest.fixture(scope="module")
def token(host):
    previous = host.run(f"cat {TOKEN_FILE}")
    token = secrets.token_urlsafe(32)
    write_token(host, token)
    assert wait_for(lambda: proxy(host, "/api/v2/heartbeat", bearer(token)) == 200, timeout=30), (
        "the proxy did not take the new token (golden-chroma-proxy-auth.path)"
    )
    yield token
    if previous.rc == 0:
        write_token(host, previous.stdout.strip())
    else:
        host.run(f"rm -f {TOKEN_FILE}")
    assert wait_for(lambda: proxy(host, "/api/v2/heartbeat", bearer(token)) == 403, timeout=30)


@pytest.mark.parametrize(
    "unit", ["chroma", "nginx", "golden-chroma-volume", "golden-chroma-proxy-auth.path"]
)
def test_chroma_units_are_enabled_and_active(host, unit):
    svc = host.service(unit)
    assert svc.is_enabled, f"{unit} is not enabled"
    assert host.run(f"systemctl is-active --quiet {unit}").rc == 0, f"{unit} is not active"


def test_token_step_runs_at_boot_before_nginx(host):
    assert host.service("golden-chroma-proxy-auth.service").is_enabled
    before = host.check_output("systemctl show -p Before --value golden-chroma-proxy-auth.service")
    assert "nginx.service" in before.split()


def test_chroma_listens_on_loopback_only(host, pillar):
    port = pillar["chroma"]["port"]
    listening = host.check_output("ss -Hltn").split("\n")
    local = {line.split()[3] for line in listening if line.strip()}
    assert f"127.0.0.1:{port}" in local
    assert not {f"0.0.0.0:{port}", f"[::]:{port}", f"*:{port}"} & local
    # Through this host's own non-loopback address: the proxy answers, Chroma does not.
    address = host.check_output("hostname -I").split()[0]
    assert (
        host.check_output(
            f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 "
            f"http://{address}:{port}/api/v2/heartbeat || true"
        )
        == "000"
    )
    assert (
        host.check_output(
            f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 "
            f"http://{address}:{CHROMA_PROXY_PORT}/healthz"
        )
        == "200"
    )


def test_healthz_needs_no_token_and_shows_the_heartbeat(host):
    assert proxy(host, "/healthz") == 200
    body = host.check_output(f"curl -s http://127.0.0.1:{CHROMA_PROXY_PORT}/healthz")
    assert "nanosecond heartbeat" in json.loads(body)


def test_request_without_token_is_refused_with_401(host):
    assert proxy(host, "/api/v2/heartbeat") == 401
    assert proxy(host, COLLECTIONS) == 401
    headers = host.check_output(
        f"curl -s -D - -o /dev/null http://127.0.0.1:{CHROMA_PROXY_PORT}{COLLECTIONS}"
    ).lower()
    assert 'www-authenticate: bearer realm="chroma"' in headers


def test_wrong_token_is_refused_with_403(host, token):
    for wrong in (secrets.token_urlsafe(32), token[:-1], token.swapcase(), token + "x"):
        assert proxy(host, COLLECTIONS, bearer(wrong)) == 403
    assert proxy(host, COLLECTIONS, f"Authorization: Basic {token}") == 403


def test_right_token_reaches_chroma_and_does_real_work(host, token):
    name = f"golden-imgtest-{secrets.token_hex(3)}"
    code, created = api(host, "POST", COLLECTIONS, token, {"name": name, "get_or_create": True})
    assert code == 200, created
    base = f"{COLLECTIONS}/{created['id']}"
    code, _ = api(
        host,
        "POST",
        f"{base}/add",
        token,
        {
            "ids": ["a", "b"],
            "embeddings": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            "documents": ["alpha", "beta"],
        },
    )
    assert code in (200, 201)
    code, found = api(
        host,
        "POST",
        f"{base}/query",
        token,
        {"query_embeddings": [[0.9, 0.1, 0.0]], "n_results": 1, "include": ["documents"]},
    )
    assert code == 200 and found["documents"] == [["alpha"]]
    assert api(host, "DELETE", f"{COLLECTIONS}/{name}", token)[0] == 200


def test_token_change_takes_effect_without_a_restart(host, token):
    nginx_pid = host.check_output("cat /run/nginx.pid")
    rotated = secrets.token_urlsafe(32)
    write_token(host, rotated)
    try:
        assert wait_for(lambda: proxy(host, COLLECTIONS, bearer(rotated)) == 200, timeout=30)
        assert proxy(host, COLLECTIONS, bearer(token)) == 403
        # Reloaded, not restarted: the master process stays.
        assert host.check_output("cat /run/nginx.pid") == nginx_pid
    finally:
        write_token(host, token)
        assert wait_for(lambda: proxy(host, COLLECTIONS, bearer(token)) == 200, timeout=30)


def test_removed_token_refuses_everything_but_healthz(host, token):
    host.run_test(f"mv {TOKEN_FILE} {TOKEN_FILE}.away")
    try:
        assert wait_for(lambda: proxy(host, COLLECTIONS, bearer(token)) == 403, timeout=30)
        assert proxy(host, "/healthz") == 200
    finally:
        host.run_test(f"mv {TOKEN_FILE}.away {TOKEN_FILE}")
        assert wait_for(lambda: proxy(host, COLLECTIONS, bearer(token)) == 200, timeout=30)


def test_token_files_are_private_and_the_token_is_in_no_log(host, token):
    assert proxy(host, COLLECTIONS, bearer(token)) == 200
    for path, mode in (
        (TOKEN_FILE, 0o600),
        (BEARER_MAP, 0o600),
        ("/etc/chroma", 0o700),
        ("/etc/nginx/chroma", 0o700),
    ):
        f = host.file(path)
        assert f.user == "root" and f.mode == mode, path
    # Access logs are buffered for up to 2 s.
    host.run("sleep 2.5")
    found = host.run(
        f"grep -rlF {shlex.quote(token)} /var/log /srv /etc/golden /etc/nginx/conf.d "
        "/etc/nginx/nginx.conf /etc/chroma/volume.json"
    )
    assert found.stdout.strip() == "", f"token found in {found.stdout}"
    journal = host.run(f"journalctl --no-pager -q | grep -cF {shlex.quote(token)}")
    assert journal.stdout.strip() in ("", "0")


def test_oversized_request_is_refused_by_the_proxy(host, token, pillar):
    limit = pillar["chroma"].get("max_body_size", "40m")
    assert (
        f"client_max_body_size {limit};"
        in host.file("/etc/nginx/conf.d/chroma-proxy.conf").content_string
    )
    code = host.check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' -X POST -H {shlex.quote(bearer(token))} "
        f"-H 'Content-Length: 104857600' --max-time 5 "
        f"http://127.0.0.1:{CHROMA_PROXY_PORT}{COLLECTIONS} || true"
    )
    assert code.strip().endswith("413")


def test_data_lives_on_the_volume_mount(host, token):
    mount = host.run(f"findmnt -n -o TARGET,SOURCE {DATA}")
    assert mount.rc == 0, f"{DATA} is not a mount point"
    assert host.file(DATA).uid == 10002 and host.file(DATA).mode == 0o750
    inspect = json.loads(host.check_output("docker inspect chroma"))[0]
    mounts = {m["Destination"]: m for m in inspect["Mounts"]}
    assert mounts["/data"]["Source"] == DATA and mounts["/data"]["RW"]
    assert host.file(f"{DATA}/chroma.sqlite3").exists


def test_container_is_pinned_unprivileged_and_read_only(host):
    inspect = json.loads(host.check_output("docker inspect chroma"))[0]
    pins = json.loads(host.file("/etc/golden/chroma-images.json").content_string)
    assert inspect["Image"] == pins["images"]["chroma"]["id"]
    assert inspect["Config"]["User"] == "10002:10002"
    assert inspect["HostConfig"]["ReadonlyRootfs"] is True
    assert inspect["HostConfig"]["CapDrop"] == ["ALL"]
    assert inspect["HostConfig"]["NetworkMode"] == "host"
    # Memory and processes bounded by what golden-chroma-limits decided at this start.
    limits = dict(line.split("=", 1) for line in
                  host.file("/run/chroma/limits.env").content_string.splitlines())
    assert inspect["HostConfig"]["Memory"] == int(limits["CHROMA_MEMORY"][:-1]) << 20
    assert inspect["HostConfig"]["PidsLimit"] == int(limits["CHROMA_PIDS"])


def test_killed_chroma_comes_back(host):
    restarts = int(host.check_output("systemctl show -p NRestarts --value chroma"))
    host.run_test("docker kill chroma")
    assert wait_for(
        lambda: int(host.check_output("systemctl show -p NRestarts --value chroma")) > restarts,
        timeout=30,
    )
    assert wait_for(lambda: proxy(host, "/healthz") == 200, timeout=60)


def test_cloudwatch_ships_proxy_and_server_logs(host):
    conf = json.loads(
        host.file("/opt/aws/amazon-cloudwatch-agent/etc/golden-chroma.json").content_string
    )
    files = {f["file_path"] for f in conf["logs"]["logs_collected"]["files"]["collect_list"]}
    assert {"/var/log/nginx/chroma-access.log", "/var/log/chroma/server.log"} <= files
    assert wait_for(lambda: host.file("/var/log/nginx/chroma-access.log").size > 0, timeout=60)
    assert host.file("/var/log/chroma/server.log").size > 0
    # JSON lines without request headers.
    entry = json.loads(host.check_output("tail -n 1 /var/log/nginx/chroma-access.log"))
    assert {"status", "uri", "request_time"} <= entry.keys()
    assert not any("authorization" in key.lower() for key in entry)


@pytest.mark.image_leftovers
def test_image_carries_no_token_map_or_build_volume(image_host):
    for path in (
        TOKEN_FILE,
        BEARER_MAP,
        "/var/tmp/golden-chroma-build-volume",
        "/run/golden/chroma-volume.json",
    ):
        assert not image_host.file(path).exists, path
    # The mount point ships empty: data only ever lands on the volume.
    assert image_host.run(f"ls -A {DATA}").stdout.strip() == ""
