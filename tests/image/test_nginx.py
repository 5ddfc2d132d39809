import re
import time

import pytest

from .conftest import body, http, wait_for
from .csp import allows_url, blocked, parse_policy, sources_for

pytestmark = pytest.mark.app_role


def test_nginx_config_is_valid(host):
    assert host.run("nginx -t").rc == 0


def test_healthz_reaches_a_backend_replica(host):
    assert http(host, "/healthz") == 200


@pytest.mark.sample_app
def test_requests_spread_over_replicas(host, replicas):
    # Spread over ~8 s: longer than nginx's fail_timeout, in case a replica was still
    # starting when the suite began.
    seen = set()
    for i in range(40):
        seen.add(body(host, "/api/whoami", f"X-Forwarded-For: 10.0.9.{i}"))
        time.sleep(0.2)
    names = {line.split('"replica":"')[1].split('"')[0] for line in seen if '"replica":"' in line}
    assert len(names) >= min(2, replicas), f"all requests went to {names}"


@pytest.mark.sample_app
def test_frontend_is_served_at_root(host):
    assert http(host, "/") == 200


SECURITY_HEADERS = (
    "x-content-type-options: nosniff", "x-frame-options: sameorigin", "referrer-policy:",
    "permissions-policy:", "strict-transport-security:", "content-security-policy:",
    "cross-origin-opener-policy: same-origin", "cross-origin-resource-policy: same-origin",
)  # fmt: skip


def response_headers(host, path) -> str:
    return host.check_output(f"curl -s -D - -o /dev/null http://127.0.0.1{path}").lower()


# Pages, the API, nginx's own answers (health, a 404 from the app's route).
@pytest.mark.parametrize("path", [
    "/", "/healthz", "/no-such-page",
    pytest.param("/chat/", marks=pytest.mark.sample_app),
    pytest.param("/api/whoami", marks=pytest.mark.sample_app),
])  # fmt: skip
def test_security_headers_are_sent(host, path):
    headers = response_headers(host, path)
    missing = [header for header in SECURITY_HEADERS if header not in headers]
    assert missing == [], f"{path}: missing {missing}"


def test_content_security_policy_comes_from_pillar(host, pillar):
    policy = pillar["nginx"].get("content_security_policy")
    conf = host.file("/etc/nginx/conf.d/golden.conf").content_string
    if policy:
        # {nonce}: the request's random id, the same in the answer and in what the app is told.
        sent = policy.replace("{nonce}", "$request_id")
        assert f'add_header Content-Security-Policy "{sent}" always;' in conf
        if "{nonce}" in policy:
            assert f'proxy_set_header Content-Security-Policy "{sent}";' in conf
    assert conf.count("add_header Content-Security-Policy") == 1


@pytest.mark.sample_app
def test_the_frontend_works_under_its_content_security_policy(host):
    headers = host.check_output("curl -s -D - -o /dev/null http://127.0.0.1/")
    policy = next(line.split(":", 1)[1].strip() for line in headers.splitlines()
                  if line.lower().startswith("content-security-policy:"))
    origin = "http://127.0.0.1"
    scripts = set()
    for page in ("/", "/chat/", "/about/"):
        html = body(host, page)
        assert "<html" in html, page
        assert blocked(html, origin + page, policy) == [], page
        scripts |= set(re.findall(r'<script[^>]+src="([^"]+)"', html))
    # What the scripts request (fetch, EventSource): this origin only, which connect-src
    # must admit.
    assert scripts
    for script in scripts:
        code = body(host, script)
        assert not re.search(r"(fetch|EventSource|WebSocket)\(\s*[\"'](https?:|wss?:)?//", code)
    connect = sources_for(parse_policy(policy), "connect-src")
    assert allows_url(connect, origin + "/api/chat/stream?q=x", origin)


def test_plain_http_behind_lb_is_redirected_to_https(host):
    out = host.check_output("curl -s -D - -o /dev/null -H 'X-Forwarded-Proto: http' "
                            "-H 'Host: app.example' http://127.0.0.1/api/whoami")
    assert out.startswith("HTTP/1.1 301")
    assert "location: https://app.example/api/whoami" in out.lower()


@pytest.mark.sample_app
def test_api_rate_limit_answers_429_past_burst(host, pillar):
    burst = pillar["nginx"].get("api_burst", 40)
    # One client address (through the trusted proxy header) well past its burst, all at
    # once (40 in flight): a sequential loop would have to outrun the refill rate
    # (20 requests/s), which a busy machine does not.
    codes = host.check_output(
        f"seq 1 {burst + 30} | xargs -P 40 -I{{}} curl -s -o /dev/null -w '%{{http_code}}\\n' "
        "-H 'X-Forwarded-For: 10.0.77.77' http://127.0.0.1/api/whoami")
    assert "429" in codes.split()
    # Give the bucket back for the tests that follow (rate refills it in seconds).
    assert wait_for(lambda: http(host, "/api/whoami", "X-Forwarded-For: 10.0.77.77") == 200,
                    timeout=30)


@pytest.mark.sample_app
def test_gzip_for_text_assets(host):
    asset = "/_next/static/chunks/app-8d2b6e1f0c4a9e37.js"
    zipped = host.check_output("curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' "
                               f"http://127.0.0.1{asset}").lower()
    plain = host.check_output(f"curl -s -D - -o /dev/null http://127.0.0.1{asset}").lower()
    assert "content-encoding: gzip" in zipped
    assert "content-encoding" not in plain


@pytest.mark.sample_app
def test_upload_limit_from_pillar(host, pillar):
    limit = pillar["nginx"].get("client_max_body_size", "100m")
    assert f"client_max_body_size {limit};" in host.file(
        "/etc/nginx/conf.d/golden.conf").content_string
    # A declared body above the limit is refused before any byte of it is read.
    code = host.check_output(
        "curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Length: 209715200' "
        "--max-time 5 http://127.0.0.1/api/upload || true")
    assert code.strip().endswith("413")


def test_stub_status_on_loopback_only(host):
    assert "Active connections" in host.check_output("curl -s http://127.0.0.1:8081/nginx_status")
    conf = host.file("/etc/nginx/conf.d/golden.conf").content_string
    assert "listen 127.0.0.1:8081;" in conf


def test_json_access_log(host):
    http(host, "/api/whoami")
    assert wait_for(lambda: host.file("/var/log/nginx/access.log").size > 0, timeout=60)
    last = host.check_output("tail -n 1 /var/log/nginx/access.log")
    import json

    entry = json.loads(last)
    assert {"status", "request_time", "upstream_addr", "remote_addr"} <= entry.keys()


def test_real_ip_only_from_lb_cidrs(host, pillar):
    conf = host.file("/etc/nginx/conf.d/golden.conf").content_string
    for cidr in pillar["nginx"]["lb_cidrs"]:
        assert f"set_real_ip_from {cidr};" in conf
    assert conf.count("set_real_ip_from") == len(pillar["nginx"]["lb_cidrs"])


@pytest.mark.sample_app
def test_chat_routes_stream_unbuffered(host):
    conf = host.file("/etc/nginx/conf.d/golden.conf").content_string
    chat = conf.split("location /api/chat/")[1].split("}")[0]
    assert "proxy_buffering off;" in chat and "proxy_read_timeout" in chat
