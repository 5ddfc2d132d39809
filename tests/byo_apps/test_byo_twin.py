"""A real FastAPI backend and a real Next.js app, built the way their teams build them,
deployed by golden's one provisioning path with their own app:services declaration:
both answer through nginx, each replica told its port its own way, and the Next.js
pages run in headless Chromium under golden's default headers and Content-Security-Policy
with no console message (docs/app-contract.md, issue 19)."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from .browser import load

pytestmark = [pytest.mark.twin, pytest.mark.slow]


def get(url: str, timeout: float = 10) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, \
                resp.read().decode()  # fmt: skip
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()


def in_twin(twin: dict, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", twin["name"], *argv], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_unchanged_images_are_reused(byo_build):
    from golden.twin import byoimages

    again = byoimages.build(dry_run=True)
    assert again["plan"] == {"api": "reuse", "web": "reuse"}
    assert again["inputs"] == byo_build["images"]["inputs"]


def test_the_declared_services_run_and_answer_goldens_probe(byo_twin):
    services = json.loads(in_twin(byo_twin, "cat", "/etc/app/services.json").stdout)
    names = [c["name"] for c in services["containers"]]
    assert names[-1] == "web" and names[:-1] == [f"api-{i + 1}" for i in range(len(names) - 1)]
    check = in_twin(byo_twin, "/usr/local/sbin/golden-app-roll", "--project", "app",
                    "--file", "/opt/app/compose.yaml", "--env-file", "/run/app/limits.env",
                    "--probe-url", "http://127.0.0.1:80/healthz",
                    "--services", "/etc/app/services.json", "--check")  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_fastapi_answers_at_api_through_nginx_from_each_replica(byo_twin):
    replicas = set()
    for _ in range(12):
        status, _, body = get(byo_twin["url"] + "/api/info")
        assert status == 200, body
        info = json.loads(body)
        assert info["app"] == "fastapi-app"
        # DATABASE_URL, under the plan's name, from the environment's settings and secrets.
        assert info["database"] == "configured", info
        replicas.add(info["replica"])
    # gunicorn bound where GUNICORN_CMD_ARGS said: every replica on its own port.
    assert len(replicas) >= 2, replicas


def test_next_js_inline_scripts_carry_the_nonce_of_this_answers_policy(byo_twin):
    nonces = set()
    for page in ("/", "/about"):
        status, headers, html = get(byo_twin["url"] + page)
        assert status == 200, html[:500]
        policy = headers["content-security-policy"]
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
        nonces.add(nonce)
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
        assert inline, f"{page}: a Next.js page without inline scripts?"
        assert all(f'nonce="{nonce}"' in attrs for attrs in inline), (page, inline)
        assert "/_next/static/" in html
    assert len(nonces) == 2  # fresh per answer


@pytest.mark.parametrize("page", ["/", "/about"])
def test_next_js_pages_run_in_chromium_with_no_console_message(byo_twin, page):
    loaded = load(byo_twin["url"] + page)
    assert loaded.console == [], loaded.console
    assert "<h1>" in loaded.dom
    if page == "/":
        # Its scripts ran (hydration) and its fetch to the backend (connect-src 'self') came back.
        assert '<span id="hydration">hydrated</span>' in loaded.dom
        assert re.search(r'<p id="backend">backend fastapi-app \(api-\d+\) answered</p>',
                         loaded.dom), loaded.dom[-1500:]  # fmt: skip
