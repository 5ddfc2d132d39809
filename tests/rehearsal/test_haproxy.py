"""The load balancer of a rehearsal: config from target-group settings, ELB health from
HAProxy's own checks. The last tests run the real HAProxy against HTTP servers on
loopback (no Docker)."""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
import time

import pytest
from golden.core.errors import ConfigError
from golden.rehearsal.haproxy import (
    Balancer,
    BalancerSpec,
    HealthCheck,
    TargetGroup,
    backend_counts,
    drained_servers,
    matcher_regex,
    parse_stat,
    render_config,
    target_state,
)


def test_health_check_comes_from_the_target_group_with_alb_defaults():
    tg = {"HealthCheckPath": "/healthz", "HealthCheckIntervalSeconds": 5,
          "HealthyThresholdCount": 2, "Matcher": {"HttpCode": "200-299"}}  # fmt: skip
    check = HealthCheck.from_target_group(tg)
    assert (check.path, check.interval, check.healthy_threshold) == ("/healthz", 5, 2)
    # Left out: the ALB's defaults (timeout 5 s, unhealthy threshold 2).
    assert (check.timeout, check.unhealthy_threshold, check.matcher) == (5, 2, "200-299")


@pytest.mark.parametrize(
    ("matcher", "codes", "not_codes"),
    [("200", ["200"], ["201", "2000"]),
     ("200,202", ["200", "202"], ["201"]),
     ("200-204", ["200", "203", "204"], ["205", "199"])],
)  # fmt: skip
def test_matcher_becomes_a_status_regex(matcher, codes, not_codes):
    import re

    pattern = re.compile(matcher_regex(matcher))
    assert all(pattern.match(c) for c in codes)
    assert not any(pattern.match(c) for c in not_codes)


@pytest.mark.parametrize("matcher", ["", "abc", "20", "200-", "600", "300-200"])
def test_a_bad_matcher_is_refused_naming_it(matcher):
    with pytest.raises(ConfigError, match="Matcher"):
        matcher_regex(matcher)


def _spec(tmp_path, port=18999, scale=1.0, check=None):
    tg = TargetGroup("arn:tg/app", "golden-rehearsal-app", 80,
                     check or HealthCheck("/healthz", interval=5, timeout=4,
                                          healthy_threshold=2, unhealthy_threshold=3),
                     deregistration_delay=10)  # fmt: skip
    return BalancerSpec(port=port, target_groups=(tg,), default=tg.name, folder=tmp_path,
                        time_scale=scale)  # fmt: skip


def test_config_listens_on_loopback_checks_like_the_target_group_and_never_retries(tmp_path):
    text = render_config(_spec(tmp_path, port=18123))
    assert "bind 127.0.0.1:18123" in text
    assert "option httpchk GET /healthz" in text
    assert "default-server inter 5000ms rise 2 fall 3" in text
    assert "timeout check 4000ms" in text
    # An ALB sends each request once.
    assert "retries 0" in text and "redispatch" not in text
    # Targets come and go through the runtime API only.
    assert "\n    server " not in text


def test_time_scale_shortens_checks_but_not_below_200_ms(tmp_path):
    text = render_config(_spec(tmp_path, scale=0.01))
    assert "inter 200ms" in text


def test_default_backend_must_be_a_target_group(tmp_path):
    spec = _spec(tmp_path)
    bad = BalancerSpec(spec.port, spec.target_groups, "nope", tmp_path)
    with pytest.raises(ConfigError, match="nope"):
        render_config(bad)


STAT = """# pxname,svname,scur,stot,status,chkfail,chkdown,check_status,check_code,hrsp_5xx
alb,FRONTEND,0,10,OPEN,,,,,
tg_app,i-up,1,7,UP,0,0,L7OK,200,0
tg_app,i-new,0,0,DOWN,1,0,L4CON,,0
tg_app,i-sick,0,0,DOWN,3,0,L7STS,503,0
tg_app,i-fell,0,3,DOWN,1,1,L7STS,500,2
tg_app,BACKEND,1,10,UP,,,,,2
"""


def test_stat_rows_map_to_elb_target_states():
    rows = {r["svname"]: r for r in parse_stat(STAT)}
    assert target_state(rows["i-up"], 3, draining=False) == {"State": "healthy"}
    # Never up, fewer failures than the unhealthy threshold: still being checked.
    assert target_state(rows["i-new"], 3, draining=False)["State"] == "initial"
    sick = target_state(rows["i-sick"], 3, draining=False)
    assert sick["State"] == "unhealthy" and sick["Reason"] == "Target.ResponseCodeMismatch"
    assert "503" in sick["Description"]
    # Once up, any fall is unhealthy whatever the count.
    assert target_state(rows["i-fell"], 3, draining=False, was_up=True)["State"] == "unhealthy"
    assert target_state(rows["i-new"], 3, draining=False, was_up=True)["State"] == "unhealthy"
    assert target_state(rows["i-up"], 3, draining=True)["State"] == "draining"
    # Never up: judged by the checks that had time to run, the last one failing.
    assert target_state(rows["i-new"], 3, draining=False, checks_run=2)["State"] == "initial"
    assert target_state(rows["i-new"], 3, draining=False, checks_run=3)["State"] == "unhealthy"
    passing = {**rows["i-new"], "check_status": "L7OK", "status": "DOWN 1/2"}
    assert target_state(passing, 3, draining=False, checks_run=9)["State"] == "initial"


def test_backend_counts_come_from_the_backend_row():
    assert backend_counts(parse_stat(STAT), "tg_app")["hrsp_5xx"] == 2
    assert backend_counts(parse_stat(STAT), "tg_app")["stot"] == 10
    assert backend_counts(parse_stat(STAT), "tg_other") == {}


# -- the real HAProxy ---------------------------------------------------------------------------
class _App(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 - http.server's name
        body = b"ok"
        self.send_response(type(self).status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(status: int):
    handler = type("Handler", (_App,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _until(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture
def balancer(tmp_path):
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed (.ci/run installs it: apt-get install haproxy)")
    check = HealthCheck("/healthz", interval=1, timeout=1, healthy_threshold=2,
                        unhealthy_threshold=2)  # fmt: skip
    lb = Balancer(_spec(tmp_path / "lb", port=_free_port(), check=check))
    lb.start()
    yield lb
    lb.stop()


def test_real_haproxy_health_decides_target_state_and_drain(balancer):
    good, bad = _serve(200), _serve(503)
    try:
        balancer.register("arn:tg/app", "i-good", "127.0.0.1", good.server_port)
        balancer.register("arn:tg/app", "i-bad", "127.0.0.1", bad.server_port)
        # Right after registration both are still being checked, and get no request.
        assert {s["State"] for s in balancer.target_health("arn:tg/app").values()} == {
            "initial"}  # fmt: skip
        _until(lambda: balancer.target_health("arn:tg/app")["i-good"]["State"] == "healthy")
        _until(lambda: balancer.target_health("arn:tg/app")["i-bad"]["State"] == "unhealthy")
        # Requests reach only the healthy target.
        import urllib.request

        url = f"http://127.0.0.1:{balancer.spec.port}/"
        codes = [urllib.request.urlopen(url, timeout=5).status for _ in range(10)]
        assert codes == [200] * 10
        balancer.drain("arn:tg/app", "i-good")
        assert balancer.target_health("arn:tg/app")["i-good"]["State"] == "draining"
        balancer.remove("arn:tg/app", "i-good")
        assert "i-good" not in balancer.target_health("arn:tg/app")
    finally:
        good.shutdown()
        bad.shutdown()


def test_stop_ends_the_process(balancer):
    pid = balancer.pid()
    assert pid is not None
    assert balancer.stop() is True
    import os

    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)


# `show servers state` of HAProxy 2.6 (Debian 12), two servers put in drain over the
# runtime API: one that never came up (op state 0) and one serving (op state 2).
SERVERS_STATE = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 tg_app 1 i-never-up 127.0.0.1 0 8 1 0 0 17 2 0 6 0 0 0 - 38235 - 0 0 - - 0
3 tg_app 2 i-serving 127.0.0.1 2 8 1 1 0 15 3 1 6 0 0 0 - 38979 - 0 0 - - 0
3 tg_app 3 i-live 127.0.0.1 2 0 1 1 0 15 3 1 6 0 0 0 - 38980 - 0 0 - - 0
"""  # noqa: E501


def test_drained_servers_come_from_the_admin_state_even_when_down():
    assert drained_servers(SERVERS_STATE) == {"i-never-up", "i-serving"}
    assert drained_servers("1\n") == set()


def test_a_target_drained_by_another_process_reads_as_draining(balancer):
    """The emulator's runtime drains through its own Balancer; the rehearsal's view of the
    same HAProxy must still say draining, also for a target that never came up."""
    bad = _serve(503)
    try:
        balancer.register("arn:tg/app", "i-bad", "127.0.0.1", bad.server_port)
        other = Balancer(balancer.spec)  # same HAProxy, no shared memory
        other.drain("arn:tg/app", "i-bad")
        assert balancer.target_health("arn:tg/app")["i-bad"]["State"] == "draining"
    finally:
        bad.shutdown()
