"""What a Content-Security-Policy would block in an HTML page, without a browser.

A small reading of CSP Level 3 for the cases a static site meets: <script> (inline or
src), <link rel=stylesheet>, <style>, style="" and on*="" attributes, <img>, <iframe>,
<object>/<embed>, <form action>, <base href>. Sources understood: 'self', 'none',
'unsafe-inline', nonces ('nonce-X' against a nonce="X" attribute), schemes (data:, https:)
and host sources (https://cdn.example, *.example). Not modelled: hashes, 'strict-dynamic',
'unsafe-eval' (no script is run here), and requests a script makes (fetch, EventSource):
the test checks those separately against connect-src."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

# Which directive governs a kind of resource, and what stands in when it is absent.
FALLBACK = {
    "script-src": "default-src", "style-src": "default-src", "img-src": "default-src",
    "font-src": "default-src", "connect-src": "default-src", "frame-src": "child-src",
    "child-src": "default-src", "object-src": "default-src",
}  # fmt: skip


def parse_policy(text: str) -> dict[str, list[str]]:
    """'default-src 'self'; img-src data:' -> {"default-src": ["'self'"], ...}; the first
    occurrence of a directive counts, as in browsers."""
    policy: dict[str, list[str]] = {}
    for part in text.split(";"):
        tokens = part.split()
        if tokens and tokens[0].lower() not in policy:
            policy[tokens[0].lower()] = tokens[1:]
    return policy


def sources_for(policy: dict[str, list[str]], directive: str) -> list[str] | None:
    """The source list that governs ``directive`` (None: nothing restricts it)."""
    while directive is not None:
        if directive in policy:
            return policy[directive]
        directive = FALLBACK.get(directive)
    return None


def allows_url(sources: list[str] | None, url: str, origin: str) -> bool:
    """Whether a source list admits ``url`` (already absolute) for a page at ``origin``."""
    if sources is None:
        return True
    parts = urlsplit(url)
    for source in sources:
        low = source.lower()
        if low == "'self'" and f"{parts.scheme}://{parts.netloc}" == origin:
            return True
        if low.endswith(":") and "/" not in low and parts.scheme == low[:-1]:
            return True
        if "://" in low or (low and low[0] not in "'" and ":" not in low):
            host = low.split("://", 1)[-1].split("/", 1)[0]
            scheme = low.split("://", 1)[0] if "://" in low else None
            if scheme and scheme != parts.scheme:
                continue
            name = parts.hostname or ""
            if host == name or (host.startswith("*.") and name.endswith(host[1:])):
                return True
    return False


def allows_inline(sources: list[str] | None, nonce: str | None = None) -> bool:
    if sources is None:
        return True
    lowered = [s.lower() for s in sources]
    if nonce and f"'nonce-{nonce}'" in sources:
        return True
    # A nonce or hash in the list turns 'unsafe-inline' off (CSP Level 2 and later).
    if any(s.startswith(("'nonce-", "'sha")) for s in lowered):
        return False
    return "'unsafe-inline'" in lowered


class _Page(HTMLParser):
    def __init__(self, base: str):
        super().__init__(convert_charrefs=True)
        self.base = base
        self.found: list[tuple[str, str | None, str | None]] = []  # directive, url, nonce
        self._inline_script = None

    def handle_starttag(self, tag, attrs):  # noqa: C901 - one branch per element kind
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and a.get("href"):
            self.found.append(("base-uri", urljoin(self.base, a["href"]), None))
        for name in a:
            if name.startswith("on"):
                self.found.append(("script-src", None, None))
        if "style" in a:
            self.found.append(("style-src", None, None))
        if tag == "script":
            if a.get("src"):
                self.found.append(("script-src", urljoin(self.base, a["src"]), None))
            else:
                self._inline_script = a.get("nonce")
                self.found.append(("script-src", None, a.get("nonce")))
        elif tag == "link" and "stylesheet" in a.get("rel", "").lower().split():
            self.found.append(("style-src", urljoin(self.base, a.get("href", "")), None))
        elif tag == "style":
            self.found.append(("style-src", None, a.get("nonce")))
        elif tag == "img" and a.get("src"):
            self.found.append(("img-src", urljoin(self.base, a["src"]), None))
        elif tag == "iframe" and a.get("src"):
            self.found.append(("frame-src", urljoin(self.base, a["src"]), None))
        elif tag in ("object", "embed"):
            src = a.get("data") or a.get("src") or ""
            self.found.append(("object-src", urljoin(self.base, src), None))
        elif tag == "form":
            action = urljoin(self.base, a.get("action") or self.base)
            self.found.append(("form-action", action, None))


def blocked(html: str, page_url: str, policy_text: str) -> list[str]:
    """What ``policy_text`` would block on the page ``page_url`` whose HTML is ``html``:
    one line per blocked resource ("script-src: inline", "img-src: https://x/y.png")."""
    policy = parse_policy(policy_text)
    parts = urlsplit(page_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    page = _Page(page_url)
    page.feed(html)
    problems = []
    for directive, url, nonce in page.found:
        if directive in ("base-uri", "form-action"):
            sources = policy.get(directive)
        else:
            sources = sources_for(policy, directive)
        ok = allows_inline(sources, nonce) if url is None else allows_url(sources, url, origin)
        if not ok:
            problems.append(f"{directive}: {url or 'inline'}")
    return problems
