"""The sample frontend works under the default Content-Security-Policy (salt/nginx), read
with the page checker the image tests use (tests/image/csp.py): nothing on its pages is
blocked, while the kinds of content a policy exists to stop are."""

from pathlib import Path

import pytest
import yaml

from tests.image.csp import allows_url, blocked, parse_policy, sources_for

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "tests" / "sample_app" / "frontend" / "site"
POLICY = yaml.safe_load((REPO / "salt" / "nginx" / "defaults.yaml").read_text())[
    "defaults"]["content_security_policy"]
ORIGIN = "https://app.example"


@pytest.mark.parametrize("page", sorted(p.relative_to(SITE).as_posix()
                                        for p in SITE.rglob("*.html")))  # fmt: skip
def test_no_page_of_the_sample_frontend_is_blocked(page):
    html = (SITE / page).read_text()
    assert blocked(html, f"{ORIGIN}/{page}", POLICY) == []


def test_its_script_may_call_the_api_and_stream_events_from_its_origin():
    connect = sources_for(parse_policy(POLICY), "connect-src")
    assert allows_url(connect, f"{ORIGIN}/api/chat/stream?q=x", ORIGIN)
    assert not allows_url(connect, "https://evil.example/collect", ORIGIN)


@pytest.mark.parametrize("html, expected", [
    ("<script>alert(1)</script>", ["script-src: inline"]),
    ('<a href="#" onclick="steal()">x</a>', ["script-src: inline"]),
    ('<script src="https://cdn.example/lib.js"></script>',
     ["script-src: https://cdn.example/lib.js"]),
    ('<div style="color:red">x</div>', ["style-src: inline"]),
    ('<img src="https://tracker.example/p.gif">', ["img-src: https://tracker.example/p.gif"]),
    ('<img src="data:image/png;base64,AAAA">', []),
    ('<object data="/x.swf"></object>', ["object-src: https://app.example/x.swf"]),
    ('<base href="https://evil.example/">', ["base-uri: https://evil.example/"]),
    ('<form action="https://evil.example/login"></form>',
     ["form-action: https://evil.example/login"]),
])  # fmt: skip
def test_what_the_policy_exists_to_stop_is_blocked(html, expected):
    assert blocked(html, f"{ORIGIN}/", POLICY) == expected


def test_a_nonce_admits_its_inline_script_and_turns_unsafe_inline_off():
    policy = "script-src 'self' 'nonce-abc' 'unsafe-inline'"
    assert blocked('<script nonce="abc">x()</script>', f"{ORIGIN}/", policy) == []
    assert blocked("<script>x()</script>", f"{ORIGIN}/", policy) == ["script-src: inline"]
    assert blocked("<script>x()</script>", f"{ORIGIN}/", "script-src 'unsafe-inline'") == []


def test_without_a_policy_nothing_is_blocked():
    assert blocked("<script>x()</script><img src='http://x/y'>", f"{ORIGIN}/", "") == []
