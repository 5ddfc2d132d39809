"""Pillar validation for the golden state tree.

Called from top.sls so that a pillar with a wrong type, a missing required key or an
unknown role stops the highstate before any state runs, with messages naming the key.
The schema below is the single description of what pillar may hold; pillar.example
documents the same keys."""

import re

ROLES = ("app", "chroma", "base")
PLATFORMS = ("aws", "twin")

_STR, _INT, _BOOL, _LIST, _DICT = "string", "integer", "boolean", "list", "mapping"

# key -> (type, required). Nested mappings are dicts of the same shape.
SCHEMA = {
    "golden": {
        "role": (_STR, True),
        "platform": (_STR, True),
        "image_version": (_STR, False),
    },
    "base": {
        "timezone": (_STR, False),
        "ntp_servers": (_LIST, False),
        "clock_hands_off": (_BOOL, False),
        "journald_max_use": (_STR, False),
        "nofile_limit": (_INT, False),
        "apply_host_wide_sysctls": (_BOOL, False),
        "extra_packages": (_LIST, False),
    },
    "hardening": {
        "firewall_enabled": (_BOOL, False),
        "ssh_port": (_INT, False),
        "extra_tcp_ports": (_LIST, False),
        "unattended_upgrades": (_BOOL, False),
        "http_open": (_BOOL, False),
    },
    "docker": {
        "storage_driver": (_STR, False),
        "extra_packages": (_LIST, False),
        "log_max_size": (_STR, False),
        "log_max_file": (_INT, False),
        "live_restore": (_BOOL, False),
    },
    "nginx": {
        "client_max_body_size": (_STR, False),
        "lb_cidrs": (_LIST, True),
        "redirect_http_to_https": (_BOOL, False),
        "hsts": (_BOOL, False),
        "tls": {
            "enabled": (_BOOL, False),
            "certificate": (_STR, False),
            "certificate_key": (_STR, False),
        },
        "api_rate": (_STR, False),
        "api_burst": (_INT, False),
        "chat_read_timeout": (_STR, False),
        "deps_allow": (_LIST, False),
        "worker_connections": (_INT, False),
    },
    "app": {
        "backend_replicas": (_INT, True),
        "backend_base_port": (_INT, False),
        "frontend_port": (_INT, False),
        "worker_cap": (_INT, False),
        "image_source": (_STR, True),
        "image_archive": (_STR, False),
        "image_manifest": (_STR, False),
        "images": {
            "backend": (_STR, False),
            "frontend": (_STR, False),
        },
        # Non-secret APP_* settings for the backends (checked in _check_app_environment).
        "environment": (_DICT, False),
    },
    "cloudwatch": {
        "install": (_BOOL, False),
        "package_source": (_STR, False),
        "log_group_prefix": (_STR, False),
        "metrics_interval": (_INT, False),
    },
    # Required keys of the chroma role are checked in _check_chroma (the twin's pillar
    # carries a partial chroma section for every role).
    "chroma": {
        "image_source": (_STR, False),
        "image_archive": (_STR, False),
        "image_manifest": (_STR, False),
        "image": (_STR, False),
        "port": (_INT, False),
        "proxy_port": (_INT, False),
        "data_dir": (_STR, False),
        "max_body_size": (_STR, False),
        "read_timeout": (_STR, False),
        "volume": {
            "kind": (_STR, False),
            "directory": (_STR, False),
            "device_name": (_STR, False),
            "name_tag": (_STR, False),
            "instance_tag": (_STR, False),
            "fs_type": (_STR, False),
            "wait_seconds": (_INT, False),
        },
    },
}

# Pillar keys that hold secrets never belong here (they come from SSM at boot).
FORBIDDEN_WORDS = ("password", "secret", "token", "private_key", "access_key")

_PY_TYPES = {_STR: str, _INT: int, _BOOL: bool, _LIST: list, _DICT: dict}


def _type_ok(value, kind):
    if kind == _INT and isinstance(value, bool):
        return False
    return isinstance(value, _PY_TYPES[kind])


def _walk(data, schema, prefix, problems):
    for key in sorted(data):
        path = f"{prefix}:{key}" if prefix else key
        if any(word in str(key).lower() for word in FORBIDDEN_WORDS):
            problems.append(f"{path}: secrets do not belong in pillar (use SSM Parameter Store)")
            continue
        if key not in schema:
            problems.append(f"{path}: unknown key")
            continue
        spec = schema[key]
        value = data[key]
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                problems.append(f"{path}: expected a mapping, got {type(value).__name__}")
            else:
                _walk(value, spec, path, problems)
            continue
        kind, required = spec
        if value is None and not required:
            # An optional key set to null means "the formula's default".
            continue
        if not _type_ok(value, kind):
            problems.append(f"{path}: expected {kind}, got {type(value).__name__} {value!r}")
    for key, spec in schema.items():
        path = f"{prefix}:{key}" if prefix else key
        if isinstance(spec, tuple) and spec[1] and key not in data:
            problems.append(f"{path}: required key is missing")


def check(pillar, role_grain=None):
    """Pure check of a pillar dict; returns a list of problems (empty = valid)."""
    problems = []
    golden = pillar.get("golden") or {}
    role = golden.get("role")
    for section in ("golden",) + (("nginx", "app") if role == "app" else ()):
        if section not in pillar:
            problems.append(f"{section}: required section is missing")
    known = {k: v for k, v in pillar.items() if k in SCHEMA}
    _walk(known, SCHEMA, "", problems)
    if isinstance(role, str) and role not in ROLES:
        problems.append(f"golden:role: unknown role {role!r}, expected one of {', '.join(ROLES)}")
    if role_grain is not None and role_grain not in ROLES:
        problems.append(f"grain role: unknown role {role_grain!r}, expected one of "
                        f"{', '.join(ROLES)}")
    elif role_grain and isinstance(role, str) and role in ROLES and role != role_grain:
        problems.append(f"golden:role: {role!r} does not match the role grain {role_grain!r}")
    platform = golden.get("platform")
    if isinstance(platform, str) and platform not in PLATFORMS:
        problems.append(f"golden:platform: unknown platform {platform!r}, expected one of "
                        f"{', '.join(PLATFORMS)}")
    app = pillar.get("app") or {}
    source = app.get("image_source")
    if isinstance(source, str):
        if source not in ("archive", "registry"):
            problems.append(f"app:image_source: expected 'archive' or 'registry', got {source!r}")
        elif source == "archive" and "image_manifest" not in app:
            problems.append("app:image_manifest: required when app:image_source is 'archive'")
        elif source == "registry":
            for name in ("backend", "frontend"):
                ref = (app.get("images") or {}).get(name)
                if not isinstance(ref, str) or "@sha256:" not in ref:
                    problems.append(f"app:images:{name}: expected an image pinned by digest "
                                    f"(repository@sha256:...), got {ref!r}")
    replicas = app.get("backend_replicas")
    if isinstance(replicas, int) and not isinstance(replicas, bool) and not 1 <= replicas <= 16:
        problems.append(f"app:backend_replicas: expected 1..16, got {replicas}")
    _check_chroma(pillar, role, problems)
    _check_app_environment(app, problems)
    return problems


_APP_SETTING = re.compile(r"^APP_[A-Z0-9_]{1,100}$")


def _check_app_environment(app, problems):
    """app:environment: APP_* names with plain values, never a secret (those come from
    SSM at boot into /etc/app/app.env)."""
    env = app.get("environment") if isinstance(app, dict) else None
    if not isinstance(env, dict):
        return
    for key in sorted(env, key=str):
        value = env[key]
        path = f"app:environment:{key}"
        if any(word in str(key).lower() for word in FORBIDDEN_WORDS):
            problems.append(f"{path}: secrets do not belong in pillar (use SSM Parameter Store)")
        elif not isinstance(key, str) or not _APP_SETTING.match(key):
            problems.append(f"{path}: expected a name like APP_FEATURE_X (APP_, then A-Z 0-9 _)")
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problems.append(f"{path}: expected a string or a number (quote yes/no/on/off), "
                            f"got {type(value).__name__} {value!r}")
        elif "'" in str(value) or "\n" in str(value) or "\r" in str(value):
            problems.append(f"{path}: a value may not contain a single quote or a line break")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_chroma(pillar, role, problems):
    """Values of the chroma section (any role: the twin's pillar carries part of it), and
    what the chroma role cannot do without."""
    chroma = pillar.get("chroma")
    if role == "chroma" and not isinstance(chroma, dict):
        problems.append("chroma: required section is missing")
        return
    if not isinstance(chroma, dict):
        return
    source = chroma.get("image_source")
    if role == "chroma" and source is None:
        problems.append("chroma:image_source: required key is missing")
    if isinstance(source, str):
        if source not in ("archive", "registry"):
            problems.append(f"chroma:image_source: expected 'archive' or 'registry', "
                            f"got {source!r}")
        elif source == "archive" and "image_manifest" not in chroma:
            problems.append("chroma:image_manifest: required when chroma:image_source is "
                            "'archive'")
        elif source == "registry" and (not isinstance(chroma.get("image"), str)
                                       or "@sha256:" not in chroma["image"]):
            problems.append(f"chroma:image: expected an image pinned by digest "
                            f"(repository@sha256:...), got {chroma.get('image')!r}")
    ports = {key: chroma.get(key) for key in ("port", "proxy_port")}
    for key, value in ports.items():
        if _is_int(value) and not 1 <= value <= 65535:
            problems.append(f"chroma:{key}: expected 1..65535, got {value}")
    if _is_int(ports["port"]) and ports["port"] == ports["proxy_port"]:
        problems.append(f"chroma:proxy_port: must differ from chroma:port ({ports['port']})")
    if role == "chroma":
        proxy_port = ports["proxy_port"] if _is_int(ports["proxy_port"]) else 8000
        opened = (pillar.get("hardening") or {}).get("extra_tcp_ports") or []
        if isinstance(opened, list) and proxy_port not in opened:
            problems.append(f"hardening:extra_tcp_ports: must include chroma:proxy_port "
                            f"({proxy_port}) or no client can reach the proxy")
    data_dir = chroma.get("data_dir")
    if isinstance(data_dir, str) and not data_dir.startswith("/"):
        problems.append(f"chroma:data_dir: expected an absolute path, got {data_dir!r}")
    volume = chroma.get("volume")
    if not isinstance(volume, dict):
        return
    kind = volume.get("kind")
    if isinstance(kind, str) and kind not in ("ebs", "directory"):
        problems.append(f"chroma:volume:kind: expected 'ebs' or 'directory', got {kind!r}")
    directory = volume.get("directory")
    if isinstance(directory, str) and not directory.startswith("/"):
        problems.append(f"chroma:volume:directory: expected an absolute path, "
                        f"got {directory!r}")
    fs_type = volume.get("fs_type")
    if isinstance(fs_type, str) and fs_type not in ("ext4", "xfs"):
        problems.append(f"chroma:volume:fs_type: expected 'ext4' or 'xfs', got {fs_type!r}")
    device = volume.get("device_name")
    if isinstance(device, str) and not device.startswith("/dev/"):
        problems.append(f"chroma:volume:device_name: expected /dev/NAME, got {device!r}")
    wait = volume.get("wait_seconds")
    if _is_int(wait) and not 1 <= wait <= 3600:
        problems.append(f"chroma:volume:wait_seconds: expected 1..3600, got {wait}")


def problems():
    """Problems of this minion's pillar, as strings naming the key."""
    return check(dict(__pillar__), __grains__.get("role"))  # noqa: F821
