"""The security baseline as the state tree renders it, for both roles, both platforms and
both OS releases: sshd's cryptography (checked against ssh-audit's own algorithm
database), the response headers (and gixy on the rendered nginx configurations), the
kernel's security settings, auditd, the CloudWatch agent's retention, unattended
upgrades (read by apt itself), the containers' privileges and the units' sandboxing.
What needs a running image is in tests/image."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ssh_audit.ssh2_kexdb import SSH2_KexDB

from .conftest import REPO
from .test_chroma_render import args, render

RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653}  # fmt: skip


def pillar_root(tmp_path, section: str, **values) -> Path:
    """The repository's pillar with pillar/common.sls's ``section`` extended."""
    root = tmp_path / "pillar"
    shutil.copytree(REPO / "pillar", root)
    path = root / "roles" / "app.sls"
    data = yaml.safe_load(path.read_text())
    data.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(data))
    return root


@pytest.fixture(scope="module")
def highstates(tmp_path_factory):
    """show_highstate of each role, platform and OS, rendered once for the module."""
    from .conftest import OS_GRAINS, Minion

    cache: dict[tuple[str, str, str], dict] = {}

    def get(role="app", platform="aws", os_name="Debian"):
        key = (role, platform, os_name)
        if key not in cache:
            grains = {"role": role, "platform": platform, **OS_GRAINS[os_name]}
            root = tmp_path_factory.mktemp("-".join(key))
            cache[key] = Minion(root, grains, REPO / "pillar").show_highstate()
        return cache[key]

    return get


# -- sshd ---------------------------------------------------------------------------------------


def sshd_config(highstate) -> dict[str, str]:
    context = args(highstate, "hardening-sshd-config-managed")["context"]
    text = render("hardening/files/sshd.conf.j2", context)
    settings = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            settings.setdefault(key, value)
    return settings


@pytest.mark.parametrize("os_name", ["Debian", "Ubuntu"])
def test_sshd_offers_no_algorithm_ssh_audit_fails_or_warns_about_64_bit_tags(highstates,
                                                                             os_name):
    settings = sshd_config(highstates("app", "aws", os_name))
    db = SSH2_KexDB.get_db()
    lists = {"kex": settings["KexAlgorithms"], "enc": settings["Ciphers"],
             "mac": settings["MACs"], "key": settings["HostKeyAlgorithms"]}  # fmt: skip
    for kind, value in lists.items():
        for algorithm in value.split(","):
            entry = db[kind].get(algorithm)
            assert entry is not None, f"{kind} {algorithm}: unknown to ssh-audit"
            fails = entry[1] if len(entry) > 1 else []
            warns = entry[2] if len(entry) > 2 else []
            assert not fails, f"{kind} {algorithm}: {fails}"
            assert not [w for w in warns if "64-bit" in w or "encrypt-and-MAC" in w], algorithm


def test_required_rsa_size_only_where_openssh_knows_it(highstates):
    assert sshd_config(highstates("app", "aws", "Debian"))["RequiredRSASize"] == "3072"
    assert "RequiredRSASize" not in sshd_config(highstates("app", "aws", "Ubuntu"))


def test_sshd_throttles_logs_verbosely_forwards_nothing_and_uses_two_host_keys(highstates):
    highstate = highstates("app", "twin", "Debian")
    settings = sshd_config(highstate)
    assert settings["PerSourceMaxStartups"] == "4"
    assert settings["MaxStartups"] == "10:30:60"
    assert settings["LogLevel"] == "VERBOSE"
    for key in ("AllowTcpForwarding", "AllowAgentForwarding", "AllowStreamLocalForwarding",
                "PermitTunnel", "X11Forwarding", "PasswordAuthentication", "PermitRootLogin"):
        assert settings[key] == "no", key
    text = render("hardening/files/sshd.conf.j2",
                  args(highstate, "hardening-sshd-config-managed")["context"])
    assert [line for line in text.splitlines() if line.startswith("HostKey ")] == [
        "HostKey /etc/ssh/ssh_host_ed25519_key", "HostKey /etc/ssh/ssh_host_rsa_key"]
    # Read before every other drop-in (sshd keeps a keyword's first value).
    assert args(highstate, "hardening-sshd-config-managed")["name"].endswith("/00-golden.conf")
    assert args(highstate, "hardening-sshd-config-managed")["check_cmd"] == "/usr/sbin/sshd -t -f"


def test_first_boot_makes_ed25519_and_4096_bit_rsa_host_keys_never_ecdsa(highstates):
    unit = args(highstates("base", "aws", "Ubuntu"),
                "hardening-ssh-host-keys-unit-managed")["contents"]
    assert "ssh-keygen -A" not in unit and "ecdsa" not in unit
    assert "-t ed25519" in unit and "-t rsa -b 4096" in unit
    cloud = args(highstates("base", "aws", "Ubuntu"),
                 "hardening-cloud-init-host-key-types-managed")["contents"]
    assert "ssh_genkeytypes: [ed25519, rsa]" in cloud


# -- nginx --------------------------------------------------------------------------------------


def nginx_files(highstate, role) -> dict[str, str]:
    """The rendered nginx configuration files of a role, by path."""
    states = {"app": ("nginx-main-config-managed", "nginx-site-config-managed"),
              "chroma": ("chroma-proxy-main-config-managed", "chroma-proxy-site-config-managed")}
    files = {}
    for sid in states[role]:
        state = args(highstate, sid)
        files[state["name"]] = render(state["source"], state["context"])
    return files


def test_every_answer_carries_csp_coop_and_corp(highstates):
    site = nginx_files(highstates("app", "aws", "Debian"), "app")["/etc/nginx/conf.d/golden.conf"]
    server = site.split("server {", 1)[1]
    assert "add_header Content-Security-Policy \"default-src 'self';" in server
    assert 'add_header Cross-Origin-Opener-Policy "same-origin" always;' in server
    assert 'add_header Cross-Origin-Resource-Policy "same-origin" always;' in server
    # Set once, at server level: a location with an add_header of its own would drop them.
    locations = server.split("\n    location ", 1)[1]
    assert "add_header" not in locations.split("# Local metrics")[0]


# A real app's own policy from pillar, sent as it is; without golden's {nonce} placeholder
# (a literal nonce, none at all) it is not passed on to the app.
@pytest.mark.parametrize("policy", [
    "default-src 'self'; script-src 'self' 'nonce-abc' https://cdn.example",
    "default-src 'self'; script-src 'self'",
])  # fmt: skip
def test_a_real_app_sets_its_own_policy_in_pillar(minion_factory, tmp_path, policy):
    root = pillar_root(tmp_path, "nginx", content_security_policy=policy)
    highstate = minion_factory("app", "aws", "Debian", pillar_root=root).show_highstate()
    site = nginx_files(highstate, "app")["/etc/nginx/conf.d/golden.conf"]
    assert f'add_header Content-Security-Policy "{policy}" always;' in site
    assert "proxy_set_header Content-Security-Policy" not in site


def test_the_default_policy_allows_inline_scripts_only_with_a_fresh_nonce_told_to_the_app(
        highstates):
    site = nginx_files(highstates("app", "aws", "Debian"), "app")["/etc/nginx/conf.d/golden.conf"]
    server = site.split("server {", 1)[1]
    header = re.search(r'add_header Content-Security-Policy "([^"]*)" always;', server).group(1)
    script_src = next(d.split()[1:] for d in header.split(";") if d.split()[:1] == ["script-src"])
    # No 'unsafe-inline' or 'unsafe-eval': inline code runs only with this request's nonce.
    assert script_src == ["'self'", "'nonce-$request_id'"]
    # Next.js reads the nonce from the policy in the request it renders.
    assert f'proxy_set_header Content-Security-Policy "{header}";' in server


@pytest.mark.parametrize("role", ["app", "chroma"])
def test_gixy_finds_nothing_in_the_rendered_nginx_configuration(highstates, tmp_path, role):
    # The configuration as `nginx -T` prints it, which gixy reads as one dump.
    dump = "".join(f"# configuration file {path}:\n{text}\n"
                   for path, text in sorted(nginx_files(highstates(role, "aws", "Debian"),
                                                        role).items()))
    (tmp_path / "nginx-T.conf").write_text(dump)
    gixy = Path(sys.executable).parent / "gixy"
    proc = subprocess.run([str(gixy), "-f", "json", str(tmp_path / "nginx-T.conf")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == []


# -- kernel and network -------------------------------------------------------------------------


SECURITY_NAMESPACED = ("net.ipv4.conf.all.rp_filter", "net.ipv4.conf.all.accept_redirects",
                       "net.ipv4.conf.all.send_redirects", "net.ipv4.conf.all.log_martians",
                       "net.ipv4.tcp_syncookies", "net.ipv6.conf.all.accept_source_route")
SECURITY_HOST_WIDE = ("kernel.kptr_restrict", "kernel.dmesg_restrict", "fs.protected_regular",
                      "kernel.unprivileged_bpf_disabled", "net.core.bpf_jit_harden")


@pytest.mark.parametrize("platform", ["aws", "twin"])
def test_security_sysctls_namespaced_ones_applied_host_wide_ones_only_on_aws(highstates,
                                                                           platform):
    highstate = highstates("app", platform, "Debian")
    for key in SECURITY_NAMESPACED:
        assert f"base-sysctl-{key}-set" in highstate, key
    rendered = args(highstate, "base-sysctl-host-wide-file-managed")["contents"]
    for key in SECURITY_HOST_WIDE:
        applied = f"base-sysctl-{key}-set" in highstate
        assert applied == (platform == "aws"), key
        assert (f"# {key} = " in rendered) == (platform == "twin"), key


# -- audit trail and logs -----------------------------------------------------------------------


def test_audit_rules_watch_identities_sudo_sshd_docker_and_golden(highstates):
    highstate = highstates("app", "aws", "Ubuntu")
    rules = render("hardening/files/audit.rules.j2",
                   args(highstate, "hardening-audit-rules-managed")["context"])
    watched = {line.split()[1] for line in rules.splitlines() if line.startswith("-w ")}
    assert {"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/sudoers", "/etc/sudoers.d",
            "/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d", "/run/docker.sock",
            "/etc/docker", "/etc/golden", "/srv"} <= watched  # fmt: skip
    assert "hardening-auditd-running" in highstate
    assert args(highstate, "hardening-audit-rules-loaded")["name"] == "augenrules --load"


def test_the_twin_renders_audit_rules_but_never_runs_auditd(highstates):
    highstate = highstates("app", "twin", "Debian")
    assert "hardening-audit-rules-managed" in highstate
    assert "hardening-auditd-running" not in highstate
    assert "hardening-audit-rules-loaded" not in highstate
    masked = args(highstate, "hardening-auditd-masked")
    assert masked["name"] == "/etc/systemd/system/auditd.service"
    assert masked["target"] == "/dev/null"
    assert {"pkg": "hardening-auditd-installed"} in masked["require_in"]
    # rsyslog never reads this machine's kernel ring buffer.
    assert "InaccessiblePaths=-/proc/kmsg" in args(
        highstate, "base-rsyslog-kernel-log-unreachable")["contents"]
    assert "base-rsyslog-kernel-log-unreachable" not in highstates("app", "aws", "Debian")


def collect_list(highstate, sid="cloudwatch-agent-config-managed") -> list[dict]:
    return args(highstate, sid)["dataset"]["logs"]["logs_collected"]["files"]["collect_list"]


@pytest.mark.parametrize("role", ["app", "chroma", "base"])
def test_every_log_group_has_a_retention_and_auth_audit_syslog_are_shipped(highstates, role):
    highstate = highstates(role, "aws", "Ubuntu")
    entries = collect_list(highstate)
    if role == "chroma":
        entries += collect_list(highstate, "chroma-cloudwatch-logs-config-managed")
    assert all(entry.get("retention_in_days") in RETENTION_DAYS for entry in entries), entries
    groups = {entry["file_path"]: entry for entry in entries}
    for path, days in (("/var/log/auth.log", 365), ("/var/log/audit/audit.log", 365),
                       ("/var/log/syslog", 30), ("/var/log/nginx/access.log", 30)):
        assert groups[path]["retention_in_days"] == days, path
    # The agent requires one retention per log group.
    by_group: dict[str, set] = {}
    for entry in entries:
        by_group.setdefault(entry["log_group_name"], set()).add(entry["retention_in_days"])
    assert all(len(days) == 1 for days in by_group.values()), by_group


def test_retention_comes_from_pillar(minion_factory, tmp_path):
    root = pillar_root(tmp_path, "cloudwatch", log_retention_days=14,
                       security_log_retention_days=731)
    highstate = minion_factory("app", "aws", "Debian", pillar_root=root).show_highstate()
    days = {e["file_path"]: e["retention_in_days"] for e in collect_list(highstate)}
    assert days["/var/log/nginx/error.log"] == 14 and days["/var/log/auth.log"] == 731


def test_a_retention_cloudwatch_refuses_stops_the_highstate(minion_factory, tmp_path):
    root = pillar_root(tmp_path, "cloudwatch", log_retention_days=10)
    proc = minion_factory("app", "aws", "Debian", pillar_root=root).call(
        "state.show_highstate", check=False)
    assert proc.returncode != 0
    assert "cloudwatch:log_retention_days: expected 1, 3, 5" in proc.stdout + proc.stderr


# -- unattended upgrades ------------------------------------------------------------------------

# The lists the unattended-upgrades package itself ships in 50unattended-upgrades.
STOCK = {
    "Debian": 'Unattended-Upgrade::Origins-Pattern {\n'
              '  "origin=Debian,codename=${distro_codename},label=Debian";\n'
              '  "origin=Debian,codename=${distro_codename},label=Debian-Security";\n'
              '  "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";\n'
              '};\n',
    "Ubuntu": 'Unattended-Upgrade::Allowed-Origins {\n'
              '  "${distro_id}:${distro_codename}";\n'
              '  "${distro_id}:${distro_codename}-security";\n'
              '  "${distro_id}ESMApps:${distro_codename}-apps-security";\n'
              '  "${distro_id}ESM:${distro_codename}-infra-security";\n'
              '};\n',
}  # fmt: skip


@pytest.mark.skipif(shutil.which("apt-config") is None, reason="apt-config: Debian or Ubuntu only")
@pytest.mark.parametrize("os_name", ["Debian", "Ubuntu"])
def test_apt_sees_security_origins_only(highstates, tmp_path, os_name):
    parts = tmp_path / "apt.conf.d"
    parts.mkdir()
    (parts / "50unattended-upgrades").write_text(STOCK[os_name])
    context = args(highstates("app", "aws", os_name),
                   "hardening-unattended-upgrades-security-only")["context"]
    (parts / "52golden-unattended-upgrades").write_text(
        render("hardening/files/unattended-upgrades.j2", context))
    main = tmp_path / "apt.conf"
    main.write_text(f'Dir::Etc::Parts "{parts}";\n')
    proc = subprocess.run(["apt-config", "dump", "Unattended-Upgrade"], capture_output=True,
                          text=True, env={"APT_CONFIG": str(main), "PATH": "/usr/bin:/bin"},
                          timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    values = [line.split(" ", 1)[1].strip('";') for line in proc.stdout.splitlines()
              if line.startswith(("Unattended-Upgrade::Origins-Pattern:: ",
                                  "Unattended-Upgrade::Allowed-Origins:: "))]  # fmt: skip
    assert values and all("security" in value for value in values), values
    # Pattern syntax only (key=value): unattended-upgrades does not read "ORIGIN:ARCHIVE"
    # there.
    assert all("=" in value for value in values), values


# -- packages kept out -------------------------------------------------------------------------


def _candidate(package: str, preferences: Path | None) -> str:
    """apt's install candidate for ``package`` on this machine, with ``preferences`` as the
    only preferences folder (None: apt's own)."""
    argv = ["apt-cache"]
    if preferences is not None:
        argv += ["-o", f"Dir::Etc::PreferencesParts={preferences}",
                 "-o", f"Dir::Etc::Preferences={preferences}/none"]
    proc = subprocess.run([*argv, "policy", package], capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.strip().startswith("Candidate:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"apt-cache policy {package}: no candidate line: "
                         f"{proc.stdout}{proc.stderr}")


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="apt-cache: Debian or Ubuntu only")
@pytest.mark.parametrize("os_name", ["Debian", "Ubuntu"])
def test_apt_never_installs_needrestart_or_the_toolchain(highstates, tmp_path, os_name):
    """The pin, read by this machine's apt against its own package lists: a package with a
    candidate without it has none with it (so a Recommends that names it is skipped)."""
    highstate = highstates("app", "aws", os_name)
    pin = args(highstate, "hardening-never-installed-packages-pinned")
    purged = args(highstate, "hardening-never-installed-packages-purged")["pkgs"]
    assert {"needrestart", "binutils"} <= set(purged)
    prefs = tmp_path / "preferences.d"
    prefs.mkdir()
    (prefs / "60-golden-never-installed").write_text(pin["contents"])
    for package in purged:
        assert _candidate(package, None) != "(none)", f"{package}: not in this machine's lists"
        assert _candidate(package, prefs) == "(none)", package


@pytest.mark.parametrize("role", ["app", "chroma"])
def test_the_pin_is_in_place_before_docker_is_installed(highstates, role):
    """docker.io recommends needrestart: the pin must be read by that install."""
    highstate = highstates(role, "aws", "Ubuntu")
    docker = args(highstate, "docker-engine-installed")["order"]
    assert args(highstate, "hardening-never-installed-packages-pinned")["order"] < docker
    assert args(highstate, "hardening-never-installed-packages-purged")["order"] < docker


# -- containers and units -----------------------------------------------------------------------


def test_every_container_drops_all_capabilities_and_has_limits(highstates, tmp_path):
    highstate = highstates("app", "aws", "Debian")
    state = args(highstate, "app-compose-file-managed")
    # No image manifest here: pins as a build would have them.
    state["context"]["app"]["images"] = {"backend": "sha256:" + "a" * 64,
                                         "frontend": "sha256:" + "b" * 64}
    compose = yaml.safe_load(render(state["source"], state["context"]))
    for name, service in compose["services"].items():
        assert service["cap_drop"] == ["ALL"] and "cap_add" not in service, name
        assert service["security_opt"] == ["no-new-privileges:true"], name
        assert service["read_only"] is True, name
        kind = "FRONTEND" if name == "frontend" else "BACKEND"
        assert service["mem_limit"].startswith(f"${{{kind}_MEMORY:-"), name
        assert str(service["pids_limit"]).startswith(f"${{{kind}_PIDS:-"), name
    assert compose["services"]["backend-1"]["tmpfs"][0].startswith("/tmp:size=")
    # Every compose run of app.service and the roll reads the limits golden-app-runtime
    # wrote.
    unit = render("app/files/app.service.j2",
                  args(highstate, "app-service-unit-managed")["context"])
    for line in ("ExecStart=", "ExecReload=", "ExecStop="):
        command = next(x for x in unit.splitlines() if x.startswith(line))
        assert "--env-file /run/app/limits.env" in command, line
    assert args(highstate, "app-runtime-script-managed")["source"].endswith(
        "golden-app-runtime.py")


def test_the_chroma_container_gets_limits_from_the_instance_size(highstates):
    highstate = highstates("chroma", "aws", "Debian")
    unit = render("chroma/files/chroma.service.j2",
                  args(highstate, "chroma-server-unit-managed")["context"])
    start = unit.split("ExecStart=")[1].split("ExecStop=")[0]
    assert "--memory ${CHROMA_MEMORY} --pids-limit ${CHROMA_PIDS}" in start
    assert "--cap-drop ALL" in start and "--read-only" in start
    assert "ExecStartPre=/usr/local/sbin/golden-chroma-limits" in unit
    assert "EnvironmentFile=-/run/chroma/limits.env" in unit


@pytest.mark.parametrize("role, sid, template", [
    ("app", "golden-boot-unit-managed", "golden/files/golden-boot.service.j2"),
    ("app", "app-service-unit-managed", "app/files/app.service.j2"),
    ("chroma", "chroma-server-unit-managed", "chroma/files/chroma.service.j2"),
    ("chroma", "chroma-proxy-auth-unit-managed",
     "chroma/files/golden-chroma-proxy-auth.service.j2"),
])  # fmt: skip
def test_golden_units_are_sandboxed(highstates, role, sid, template):
    highstate = highstates(role, "aws", "Ubuntu")
    if sid not in highstate:
        pytest.fail(f"{sid}: no such state (renamed?)")
    unit = render(template, args(highstate, sid)["context"])
    for option in ("NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectKernelModules=yes",
                   "RestrictSUIDSGID=yes", "LockPersonality=yes"):
        assert option in unit, option


def test_cleanup_empties_apt_caches_and_purges_removed_packages(minion_factory):
    proc = minion_factory("app", "aws", "Debian").call("state.show_sls", "cleanup")
    states = json.loads(proc.stdout)["local"]
    assert args(states, "cleanup-apt-caches-emptied")["name"] == "apt-get clean"
    assert "dpkg --purge" in args(states, "cleanup-removed-packages-purged")["name"]
