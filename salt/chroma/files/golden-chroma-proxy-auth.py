#!/usr/bin/python3
"""golden-chroma-proxy-auth: make the Chroma proxy accept `Authorization: Bearer <token>`
for the token in /etc/chroma/token, and nothing else.

The Chroma 1.x server ignores its own token settings, so nginx checks the header. This
turns the token file (written at boot from SSM Parameter Store, mode 0600) into the map
nginx includes (/etc/nginx/chroma/bearer.map, mode 0600), then reloads nginx if it runs.
It runs before nginx at boot and again whenever the token file changes (a systemd path
unit). The token never appears in its output, in the state tree, pillar or logs.

No token file: the map accepts nothing (every request but /healthz gets 401/403) and the
run succeeds, so the instance stays up and visibly refuses. A token file that is readable
by others or holds characters outside RFC 6750's b64token set: the map accepts nothing
and the run fails naming the file.

Options (for tests): --token-file PATH, --map PATH, --no-reload."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

TOKEN_FILE = "/etc/chroma/token"
MAP_FILE = "/etc/nginx/chroma/bearer.map"
# RFC 6750 b64token, and long enough to be a secret (secrets.token_urlsafe(32) = 43).
TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/-]{32,512}=*")
HEADER = "# Managed by golden-chroma-proxy-auth from {source}; do not edit.\n"


class AuthError(Exception):
    pass


def say(message: str) -> None:
    print(f"golden-chroma-proxy-auth: {message}", file=sys.stderr, flush=True)


# -- pure ---------------------------------------------------------------------------------------


def check_token(raw: str, source: str) -> str:
    token = raw.strip()
    if not TOKEN_RE.fullmatch(token):
        # Only the length is reported: the value must never reach a log.
        raise AuthError(
            f"{source}: the token ({len(token)} characters) is not 32-512 characters of "
            "A-Z a-z 0-9 . _ ~ + / - (then optional =): refusing every request"
        )
    return token


def pcre_literal(token: str) -> str:
    """The token as a case-sensitive PCRE literal without backslashes (nginx quoting
    would need them escaped again): '.' and '+' become one-character classes; the other
    allowed characters are literal in PCRE."""
    return "".join(f"[{c}]" if c in ".+" else c for c in token)


def render_map(token: str | None, source: str) -> str:
    """Map entries for `map $http_authorization $chroma_bearer_ok`. A regex (~) because
    plain map strings match ignoring case, which would weaken the token."""
    text = HEADER.format(source=source)
    if token is None:
        return text + "# No token: nothing is accepted.\n"
    return text + f'"~^Bearer {pcre_literal(token)}$" 1;\n'


def mode_problem(st: os.stat_result, source: str) -> str | None:
    if st.st_uid != 0:
        return f"{source}: owned by uid {st.st_uid}, expected root"
    if stat.S_IMODE(st.st_mode) & 0o077:
        return f"{source}: mode {stat.S_IMODE(st.st_mode):04o}, expected 0600"
    return None


# -- effects ------------------------------------------------------------------------------------


def read_token(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
        problem = mode_problem(os.fstat(f.fileno()), path)
        if problem:
            raise AuthError(problem + ": refusing every request")
        return check_token(f.read(), path)


def write_atomically(path: str, text: str) -> bool:
    """Returns False when the file already holds exactly this text."""
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return True


def nginx_active() -> bool:
    return subprocess.run(["systemctl", "is-active", "--quiet", "nginx"]).returncode == 0


def reload_nginx(path: str, previous: str | None) -> None:
    check = subprocess.run(["nginx", "-t", "-q"], capture_output=True, text=True)
    if check.returncode != 0:
        # Put the last good map back so a later reload cannot pick up the broken one.
        if previous is not None:
            write_atomically(path, previous)
        raise AuthError(f"nginx -t failed with the new map: {check.stderr.strip()[-300:]}")
    # --no-block: this unit is ordered before nginx, so a blocking reload job would wait
    # for this very unit to finish.
    subprocess.run(["systemctl", "reload", "--no-block", "nginx"], check=True)
    say("nginx reload queued")


def main(argv: list[str]) -> int:
    token_file, map_file, reload = TOKEN_FILE, MAP_FILE, True
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg == "--token-file" and args:
            token_file = args.pop(0)
        elif arg == "--map" and args:
            map_file = args.pop(0)
        elif arg == "--no-reload":
            reload = False
        else:
            print(__doc__, file=sys.stderr)
            return 2
    # A token written while this runs may not start it again (the path unit merges the
    # trigger into this run): render until the file stopped changing, a few times at most.
    for _ in range(3):
        seen = file_identity(token_file)
        rc = apply(token_file, map_file, reload)
        if rc == 2 or file_identity(token_file) == seen:
            break
    return rc


def file_identity(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def apply(token_file: str, map_file: str, reload: bool) -> int:
    rc = 0
    try:
        token = read_token(token_file)
        if token is None:
            say(f"{token_file} is missing: the proxy refuses every request but /healthz")
    except AuthError as exc:
        say(f"error: {exc}")
        token, rc = None, 1
    try:
        with open(map_file, encoding="utf-8") as f:
            previous = f.read()
    except FileNotFoundError:
        previous = None
    changed = write_atomically(map_file, render_map(token, token_file))
    say(
        ("bearer map updated" if changed else "bearer map unchanged")
        + ("" if token is None else " (a token is set)")
    )
    if changed and reload and nginx_active():
        try:
            reload_nginx(map_file, previous)
        except (AuthError, subprocess.CalledProcessError) as exc:
            say(f"error: {exc}")
            return 2
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
