import uuid

import pytest

from .conftest import ROLE, wait_for


def sshd_settings(host) -> dict[str, list[str]]:
    """sshd's effective configuration (`sshd -T`): keyword -> its values."""
    config = host.check_output("sshd -T -C user=nobody,host=localhost,addr=127.0.0.1")
    settings: dict[str, list[str]] = {}
    for line in config.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, []).append(value)
    return settings


def test_sshd_refuses_root_and_passwords(host):
    settings = {k: v[0] for k, v in sshd_settings(host).items()}
    assert settings["permitrootlogin"] == "no"
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"


def test_sshd_offers_only_the_hardened_algorithms(host):
    settings = {k: v[0] for k, v in sshd_settings(host).items()}
    for key in ("kexalgorithms", "ciphers", "macs", "hostkeyalgorithms"):
        offered = settings[key].split(",")
        assert not [a for a in offered if "sha1" in a or "nistp" in a or "umac-64" in a], key
    assert "ecdh-sha2-nistp256" not in settings["kexalgorithms"]
    assert all(mac.endswith("-etm@openssh.com") for mac in settings["macs"].split(","))


def test_sshd_throttles_logs_verbosely_and_forwards_nothing(host):
    settings = {k: v[0] for k, v in sshd_settings(host).items()}
    assert settings["persourcemaxstartups"] == "4"
    assert settings["maxstartups"] == "10:30:60"
    assert settings["loglevel"] == "VERBOSE"
    for key in ("allowtcpforwarding", "allowagentforwarding", "allowstreamlocalforwarding",
                "permittunnel", "x11forwarding"):
        assert settings[key] == "no", key


def test_sshd_uses_only_ed25519_and_large_rsa_host_keys(host):
    keys = sshd_settings(host)["hostkey"]
    assert sorted(keys) == ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"]
    bits = int(host.check_output("ssh-keygen -l -f /etc/ssh/ssh_host_rsa_key.pub").split()[0])
    assert bits >= 3072


@pytest.mark.finished_image
def test_first_boot_makes_no_ecdsa_or_dsa_host_key(host):
    # An image ships without host keys; what the booted instance made is all there is.
    made = host.check_output("ls /etc/ssh/ | grep '^ssh_host_.*_key$' || true").split()
    assert sorted(made) == ["ssh_host_ed25519_key", "ssh_host_rsa_key"]


def test_ssh_audit_reports_no_failure(ssh_audit):
    assert ssh_audit["kex"] and ssh_audit["key"], "ssh-audit saw no key exchange"
    failing = [f"{kind}: {alg['algorithm']}" for kind in ("kex", "key", "enc", "mac")
               for alg in ssh_audit[kind] if alg.get("notes", {}).get("fail")]
    critical = ssh_audit.get("recommendations", {}).get("critical", {})
    assert failing == [] and critical == {}, (failing, critical)


def test_firewall_drops_all_but_declared_ports(host, pillar):
    ruleset = host.check_output("nft list table inet golden_filter")
    assert "policy drop" in ruleset
    allowed = {int(word) for line in ruleset.splitlines() if "tcp dport" in line
               for word in line.split() if word.isdigit()}
    hardening = pillar.get("hardening", {})
    expected = {22, 80} if hardening.get("http_open", True) else {22}
    expected |= set(hardening.get("extra_tcp_ports", []))
    if pillar.get("nginx", {}).get("tls", {}).get("enabled"):
        expected.add(443)
    assert allowed == expected


def test_unattended_security_upgrades_on(host):
    assert host.package("unattended-upgrades").is_installed
    periodic = host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert 'Unattended-Upgrade "1"' in periodic


def test_unattended_upgrades_dry_run_allows_security_origins_only(host):
    # What unattended-upgrades itself makes of apt's whole configuration (the package's
    # own 50unattended-upgrades included), not what golden's file says.
    result = host.run("unattended-upgrade --dry-run --debug 2>&1")
    lines = [line for line in result.stdout.splitlines() if "Allowed origins are:" in line]
    assert lines, f"no origins in the dry run (exit {result.rc}):\n{result.stdout[-2000:]}"
    origins = lines[0].split("Allowed origins are:", 1)[1].strip().split(", ")
    assert origins and all("security" in origin.lower() for origin in origins), origins


def test_audit_rules_in_place_and_auditd_as_the_platform_allows(host, pillar):
    rules = host.file("/etc/audit/rules.d/50-golden.rules").content_string
    for rule in ("-w /etc/shadow -p wa -k identity", "-w /etc/sudoers -p wa -k sudoers",
                 "-w /etc/docker -p wa -k docker", "-w /srv -p wa -k golden-state"):
        assert rule in rules, rule
    if pillar.get("hardening", {}).get("auditd_running", True):
        assert host.service("auditd").is_running
        assert "-w /etc/shadow -p wa -k identity" in host.check_output("auditctl -l")
    else:
        # The twin: this machine's kernel must keep its own audit rules.
        assert host.file("/etc/systemd/system/auditd.service").linked_to == "/dev/null"
        assert not host.service("auditd").is_running


def test_auth_events_reach_the_auth_log(host):
    marker = f"golden-auth-test-{uuid.uuid4().hex[:8]}"
    host.run_test(f"logger -p authpriv.notice {marker}")
    assert wait_for(lambda: marker in host.run(f"grep -F {marker} /var/log/auth.log").stdout,
                    timeout=60), "rsyslog did not write the message to /var/log/auth.log"


GOLDEN_UNITS = {
    "app": ["golden-ssh-host-keys", "golden-boot", "app"],
    "chroma": ["golden-ssh-host-keys", "golden-boot", "chroma", "golden-chroma-proxy-auth"],
    "base": ["golden-ssh-host-keys"],
}


@pytest.mark.parametrize("unit", GOLDEN_UNITS[ROLE])
def test_golden_units_run_sandboxed(host, unit):
    shown = host.check_output(f"systemctl show {unit}.service -p NoNewPrivileges -p PrivateTmp "
                              "-p ProtectKernelModules -p RestrictSUIDSGID -p LockPersonality")
    settings = dict(line.split("=", 1) for line in shown.splitlines())
    assert settings == {"NoNewPrivileges": "yes", "PrivateTmp": "yes",
                        "ProtectKernelModules": "yes", "RestrictSUIDSGID": "yes",
                        "LockPersonality": "yes"}, settings


def test_host_settings_from_the_benchmarks(host):
    defs = host.file("/etc/login.defs").content_string.splitlines()
    assert "UMASK 027" in defs and "SHA_CRYPT_MIN_ROUNDS 5000" in defs
    assert "unauthorized" in host.file("/etc/issue.net").content_string.lower()
    # Resolved from modprobe's configuration only: nothing is loaded.
    for module in ("usb-storage", "dccp", "sctp"):
        assert "install /bin/false" in host.check_output(f"modprobe -n -v {module} 2>&1 || true")


def test_no_needrestart_and_no_toolchain(host):
    """Kept out although docker.io recommends needrestart (which brings binutils)."""
    for package in ("needrestart", "binutils", "binutils-x86-64-linux-gnu"):
        assert not host.package(package).is_installed, package
    assert host.run("command -v as").rc != 0


def test_a_login_shell_makes_no_core_dump(host):
    assert host.check_output("bash -lc 'ulimit -c'").strip() == "0"
