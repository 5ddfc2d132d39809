"""What the audited host prints, made from the tools' real output formats: lynis's report
file, ssh-audit's JSON (-j, as build_struct in ssh-audit 3.x writes it), gixy's JSON,
curl's response headers, the image's records. `stdout` wraps them in the remote script's
sections (golden.audit.remote)."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import yaml

# The artifacts bucket of the emulated environment (conftest.py).
BUCKET = "golden-audit-test-artifacts"

LYNIS_GOOD = """\
lynis_version=3.0.8
hardening_index=83
suggestion[]=BOOT-5264|Consider hardening system services|Run '/usr/bin/systemd-analyze security SERVICE' for each service|-|
suggestion[]=FILE-6310|To decrease the impact of a full /var file system, place /var on a separate partition|-|-|
suggestion[]=LOGG-2154|Enable logging to an external logging host for archiving purposes and additional protection|-|-|
"""  # noqa: E501

LYNIS_BAD = """\
lynis_version=3.0.8
hardening_index=61
warning[]=PKGS-7392|Found one or more vulnerable packages.|-|-|
suggestion[]=SSH-7408|Consider hardening SSH configuration|AllowTcpForwarding (set YES to NO)|-|
suggestion[]=KRNL-6000|One or more sysctl values differ from the scan profile and could be tweaked||Change sysctl value or disable test (skip-test=KRNL-6000:<sysctl-key>)|
"""  # noqa: E501


def _alg(name: str, fail=(), warn=(), info=("available since OpenSSH 6.5",)) -> dict:
    notes = {}
    if fail:
        notes["fail"] = list(fail)
    if warn:
        notes["warn"] = list(warn)
    notes["info"] = list(info)
    return {"algorithm": name, "notes": notes}


def ssh_audit_report(hardened: bool = True) -> str:
    pq = "does not provide protection against post-quantum attacks"
    report = {
        "additional_notes": [],
        "banner": {"comments": None, "protocol": "2.0", "raw": "SSH-2.0-OpenSSH_9.2p1 Debian-2",
                   "software": "OpenSSH_9.2p1"},
        "compression": ["none"],
        "cves": [],
        "enc": [_alg("chacha20-poly1305@openssh.com"), _alg("aes256-gcm@openssh.com")],
        "fingerprints": [{"hash": "x" * 43, "hash_alg": "SHA256", "hostkey": "ssh-ed25519"}],
        "kex": [_alg("sntrup761x25519-sha512@openssh.com"),
                _alg("curve25519-sha256", warn=[pq])],
        "key": [_alg("ssh-ed25519"), {**_alg("rsa-sha2-512"), "keysize": 4096}],
        "mac": [_alg("hmac-sha2-256-etm@openssh.com")],
        "recommendations": {"warning": {"del": {"kex": [{"name": "curve25519-sha256",
                                                          "notes": ""}]}}},
        "target": "127.0.0.1:22",
    }  # fmt: skip
    if not hardened:
        nsa = "using elliptic curves that are suspected as being backdoored by the U.S. National Security Agency"  # noqa: E501
        report["kex"].append(_alg("ecdh-sha2-nistp256", fail=[nsa], warn=[pq]))
        report["key"].append(_alg("ecdsa-sha2-nistp256", fail=[nsa]))
        report["mac"] += [_alg("hmac-sha1", fail=["using broken SHA-1 hash algorithm"],
                               warn=["using encrypt-and-MAC mode"]),
                          _alg("umac-64-etm@openssh.com", warn=["using small 64-bit tag size"])]
        report["recommendations"]["critical"] = {"del": {
            "kex": [{"name": "ecdh-sha2-nistp256", "notes": ""}],
            "key": [{"name": "ecdsa-sha2-nistp256", "notes": ""}],
            "mac": [{"name": "hmac-sha1", "notes": ""}]}}  # fmt: skip
    return json.dumps(report)


HEADERS_GOOD = """\
HTTP/1.1 200 OK
Server: nginx
Content-Type: text/html; charset=utf-8
X-Content-Type-Options: nosniff
X-Frame-Options: SAMEORIGIN
Referrer-Policy: strict-origin-when-cross-origin
Permissions-Policy: camera=(), microphone=(), geolocation=()
Content-Security-Policy: default-src 'self'; script-src 'self'; object-src 'none'
Cross-Origin-Opener-Policy: same-origin
Cross-Origin-Resource-Policy: same-origin
Strict-Transport-Security: max-age=31536000; includeSubDomains
"""

NGINX_DUMP = """\
# configuration file /etc/nginx/nginx.conf:
user www-data;
worker_rlimit_nofile 65536;
events { worker_connections 1024; }
http {
    server_tokens off;
    include /etc/nginx/conf.d/*.conf;
}

# configuration file /etc/nginx/conf.d/golden.conf:
server {
    listen 80 default_server;
    add_header X-Content-Type-Options "nosniff" always;
    location / {
        proxy_pass http://127.0.0.1:3000;
    }
}
"""

IMAGE_JSON = json.dumps({"role": "app", "version": "1.4.0", "git_revision": "a" * 40,
                         "build_time": "2026-11-30T10:00:00Z"})


def packages_json(pending_security=()) -> str:
    return json.dumps({"schema": 1, "count": 512, "recorded_at": "2026-11-30T10:00:00Z",
                       "packages": [], "pending_updates": [],
                       "pending_security": list(pending_security)})  # fmt: skip


def section(name: str, text: str) -> str:
    payload = base64.b64encode(gzip.compress(text.encode())).decode()
    return f"==golden-audit:{name}==\n{payload}\n"


def stdout(*, lynis=LYNIS_GOOD, ssh=None, headers=HEADERS_GOOD, nginx=NGINX_DUMP,
           image=IMAGE_JSON, packages=None, end=True) -> str:
    parts = [section("image", image),
             section("packages", packages if packages is not None else packages_json()),
             section("lynis", lynis), section("lynis-log", "Lynis 3.0.8\n"),
             section("ssh-audit", ssh if ssh is not None else ssh_audit_report())]
    if nginx is not None:
        parts.append(section("nginx", nginx))
    parts.append(section("headers", headers))
    return "".join(parts) + ("==golden-audit:end==\n" if end else "")


def write_settings(path: Path, url: str, *, bucket: str | None = BUCKET) -> Path:
    from autoscaling.settings import ENV_DIR

    data = yaml.safe_load((ENV_DIR / "local.yaml").read_text())
    data["aws"]["endpoint_url"] = url
    data["instance"]["aws_endpoint_url"] = url
    if bucket:
        data["artifacts_bucket"] = bucket
    else:
        data.pop("artifacts_bucket", None)
    data["roles"]["app"]["capacity"] = {"min": 1, "max": 4, "desired": 2}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
