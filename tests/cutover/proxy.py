"""A loopback stand-in for the Chroma host's authenticating proxy (salt/chroma: nginx
with a bearer-token map): 401 without ``Authorization: Bearer``, 403 with a wrong token,
otherwise the request goes to the Chroma server without the header. Not modelled: TLS,
nginx's limits and logs."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class BearerProxy:
    def __init__(self, upstream_port: int, token: str):
        self.upstream_port = upstream_port
        self.token = token
        self.refused = 0
        self.passed = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> BearerProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _any(self):
                auth = self.headers.get("Authorization")
                if auth is None or not auth.startswith("Bearer "):
                    return self._refuse(401)
                if auth != f"Bearer {proxy.token}":
                    return self._refuse(403)
                proxy.passed += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("authorization", "host", "connection")}
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port,
                                                      timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    reply = upstream.getresponse()
                    data = reply.read()
                    self.send_response(reply.status)
                    for key, value in reply.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection",
                                               "content-length"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    upstream.close()

            def _refuse(self, status: int):
                proxy.refused += 1
                body = b'{"error":"unauthorized"}'
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Bearer realm="chroma"')
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        return Handler
