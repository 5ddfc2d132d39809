"""The rehearsal's load: Locust (the project's Locust file) stopped at a scenario's end
still writes its outcomes when the rehearsal runs in the background, where a shell hands
its children SIGINT ignored (nohup, `&`, CI runners). Real Locust against a loopback
server this test starts; no Docker."""

from __future__ import annotations

import http.server
import signal
import threading

from golden.rehearsal.traffic import Load, LoadSpec


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server hook
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        self.do_GET()

    def log_message(self, *args):
        pass


def test_load_stopped_at_the_scenarios_end_writes_its_outcomes_even_with_sigint_ignored(
    tmp_path,
):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by Locust
    try:
        spec = LoadSpec(host=f"http://127.0.0.1:{server.server_port}", users=2,
                        spawn_rate=2, think_min=0.1, think_max=0.2)  # fmt: skip
        with Load(spec, tmp_path, "t") as load:
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
        server.shutdown()
    assert load.outcomes["requests"] > 0, (tmp_path / "load-t.log").read_text()[-2000:]
    assert sum(load.outcomes["classes"].values()) == load.outcomes["requests"]


def test_the_fleet_monitor_asks_docker_for_ids_and_instances_not_ids_alone():
    from golden.rehearsal.traffic import parse_ps, ps_argv

    # `docker ps -q --format X` prints the IDs alone (Docker 20.10+): launch -> healthy
    # times were never matched to an instance.
    assert "-q" not in ps_argv("r1") and "--quiet" not in ps_argv("r1")
    assert parse_ps("abc i-0123\n\ndef \nfff i-0456\n") == [("abc", "i-0123"), ("fff", "i-0456")]
