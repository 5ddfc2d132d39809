"""The Chroma proxy's token step (salt/chroma/files/golden-chroma-proxy-auth.py): the map
nginx includes accepts exactly `Bearer <token>`, case-sensitively, fails closed, and never
prints the token. nginx itself is exercised by the image tests (tests/image/test_chroma.py);
here the map's regex is checked with Python's re, which reads the generated subset
(literals, one-character classes, ^ and $) exactly as PCRE does."""

from __future__ import annotations

import importlib.util
import os
import re
import secrets

import pytest
from golden.core.provenance import REPO

SCRIPT = REPO / "salt" / "chroma" / "files" / "golden-chroma-proxy-auth.py"


@pytest.fixture(scope="module")
def auth():
    spec = importlib.util.spec_from_file_location("golden_chroma_proxy_auth", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def accepted(map_text: str, header: str) -> bool:
    for line in map_text.splitlines():
        if line.startswith('"~'):
            pattern = line.split('"')[1][1:]
            if re.search(pattern, header):
                return True
    return False


def run(auth, tmp_path, token: str | None, mode=0o600):
    token_file, map_file = tmp_path / "token", tmp_path / "nginx" / "bearer.map"
    if token is not None:
        token_file.write_text(token + "\n")
        os.chmod(token_file, mode)
    rc = auth.main(
        [
            "golden-chroma-proxy-auth",
            "--token-file",
            str(token_file),
            "--map",
            str(map_file),
            "--no-reload",
        ]
    )
    return rc, map_file.read_text(), map_file


TOKENS = [secrets.token_urlsafe(32), "a.b+c/d~e_f-" * 3 + "==", "A" * 512]


@pytest.mark.parametrize("token", TOKENS)
def test_only_the_exact_bearer_token_is_accepted(auth, tmp_path, token):
    rc, text, _ = run(auth, tmp_path, token)
    assert rc == 0
    assert accepted(text, f"Bearer {token}")
    for wrong in (
        f"Bearer {token}x",
        f"Bearer x{token}",
        f"bearer {token}",
        token,
        f"Bearer {token.swapcase()}",
        f"Basic {token}",
        "Bearer ",
    ):
        assert not accepted(text, wrong), wrong


def test_regex_metacharacters_in_the_token_match_only_themselves(auth, tmp_path):
    token = "abc.def+ghi" + "x" * 30
    _, text, _ = run(auth, tmp_path, token)
    assert not accepted(text, "Bearer abcXdefffghi" + "x" * 30)


def test_no_token_file_accepts_nothing_and_succeeds(auth, tmp_path):
    rc, text, map_file = run(auth, tmp_path, None)
    assert rc == 0
    assert not any(line.startswith('"') for line in text.splitlines())
    assert oct(map_file.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    "token,mode,message",
    [
        ("short", 0o600, "(5 characters) is not 32-512 characters"),
        ("x" * 40 + '"; 1; "', 0o600, "is not 32-512 characters"),
        ("y" * 40, 0o644, "mode 0644, expected 0600"),
    ],
)
def test_bad_token_file_fails_closed_without_printing_it(
    auth, tmp_path, capsys, token, mode, message
):
    rc_ok, _, _ = run(auth, tmp_path, secrets.token_urlsafe(32))
    assert rc_ok == 0
    rc, text, _ = run(auth, tmp_path, token, mode)
    err = capsys.readouterr().err
    assert rc == 1
    assert message in err
    assert token not in err
    # The previous token no longer works either: fail closed.
    assert not any(line.startswith('"') for line in text.splitlines())


def test_unchanged_token_leaves_the_map_alone(auth, tmp_path, capsys):
    token = secrets.token_urlsafe(32)
    run(auth, tmp_path, token)
    _, _, map_file = run(auth, tmp_path, token)
    before = map_file.stat().st_mtime_ns
    rc, _, _ = run(auth, tmp_path, token)
    assert rc == 0 and map_file.stat().st_mtime_ns == before
    assert "bearer map unchanged" in capsys.readouterr().err


def test_token_written_during_a_run_is_picked_up(auth, tmp_path, monkeypatch):
    """The path unit cannot start a run that is already going: the run itself renders
    again when the file changed under it."""
    first, second = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    token_file = tmp_path / "token"
    token_file.write_text(first + "\n")
    os.chmod(token_file, 0o600)
    real_apply, calls = auth.apply, []

    def apply_then_rotate(*args):
        rc = real_apply(*args)
        if not calls:
            replacement = tmp_path / "token.new"
            replacement.write_text(second + "\n")
            os.chmod(replacement, 0o600)
            os.replace(replacement, token_file)
        calls.append(rc)
        return rc

    monkeypatch.setattr(auth, "apply", apply_then_rotate)
    map_file = tmp_path / "bearer.map"
    assert (
        auth.main(
            [
                "golden-chroma-proxy-auth",
                "--token-file",
                str(token_file),
                "--map",
                str(map_file),
                "--no-reload",
            ]
        )
        == 0
    )
    assert len(calls) == 2
    assert accepted(map_file.read_text(), f"Bearer {second}")
    assert not accepted(map_file.read_text(), f"Bearer {first}")
