"""The browser check can fail: a page whose inline script the policy refuses is reported
by Chromium's console, and the script does not run. A page served on 127.0.0.1 by this
test; no Docker."""

from __future__ import annotations

import http.server
import threading

import pytest

from .browser import load

pytestmark = pytest.mark.slow

PAGE = (b"<!doctype html><html><body><p id=x>server</p>"
        b"<script>document.getElementById('x').textContent='ran'</script></body></html>")


class _Handler(http.server.BaseHTTPRequestHandler):
    policy = "script-src 'self'"

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Security-Policy", self.policy)
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_an_inline_script_the_policy_refuses_is_reported_and_does_not_run(server):
    page = load(server + "/")
    assert any("Content Security Policy" in message for message in page.console), page.console
    assert '<p id="x">server</p>' in page.dom
