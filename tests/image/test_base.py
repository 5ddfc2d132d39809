def test_timezone_is_utc(host):
    assert host.file("/etc/localtime").linked_to.endswith("/UTC")
    assert host.check_output("date +%Z") == "UTC"


def test_chrony_sources_match_platform(host, pillar):
    conf = host.file("/etc/chrony/chrony.conf").content_string
    servers = [line.split()[1] for line in conf.splitlines() if line.startswith("server ")]
    assert servers == pillar["base"]["ntp_servers"]
    options = host.file("/etc/default/chrony").content_string
    if pillar["base"].get("clock_hands_off"):
        # The twin shares its host's clock: chronyd must never set it.
        assert "-x" in options
        assert servers == []
    else:
        assert "169.254.169.123" in servers


def test_journald_is_bounded(host):
    conf = host.file("/etc/systemd/journald.conf.d/50-golden.conf").content_string
    assert "SystemMaxUse=" in conf


def test_network_sysctls_applied(host):
    assert host.sysctl("net.core.somaxconn") == 4096
    assert host.check_output("sysctl -n net.ipv4.ip_local_port_range").split() == ["1024", "65535"]


# Namespaced: applied on every platform (the twin has a network namespace of its own).
SECURITY_SYSCTLS = {
    "net.ipv4.conf.all.rp_filter": 1, "net.ipv4.conf.all.accept_redirects": 0,
    "net.ipv4.conf.all.secure_redirects": 0, "net.ipv4.conf.all.send_redirects": 0,
    "net.ipv4.conf.all.accept_source_route": 0, "net.ipv4.conf.all.log_martians": 1,
    "net.ipv4.conf.default.log_martians": 1, "net.ipv4.icmp_echo_ignore_broadcasts": 1,
    "net.ipv4.icmp_ignore_bogus_error_responses": 1, "net.ipv4.tcp_syncookies": 1,
    "net.ipv6.conf.all.accept_redirects": 0, "net.ipv6.conf.all.accept_source_route": 0,
}  # fmt: skip
# Host-wide: applied on an instance, rendered (not applied) in the twin.
HOST_WIDE_SECURITY = {
    "fs.protected_symlinks": 1, "fs.protected_regular": 2, "fs.suid_dumpable": 0,
    "kernel.kptr_restrict": 2, "kernel.dmesg_restrict": 1, "kernel.unprivileged_bpf_disabled": 1,
    "net.core.bpf_jit_harden": 2,
}  # fmt: skip


def test_security_sysctls_applied(host):
    wrong = {key: host.sysctl(key) for key, value in SECURITY_SYSCTLS.items()
             if host.sysctl(key) != value}
    assert wrong == {}


def test_host_wide_security_sysctls_follow_platform(host, pillar):
    rendered = host.file("/etc/sysctl.d/61-golden-host-wide.conf").content_string
    for key, value in HOST_WIDE_SECURITY.items():
        if pillar["base"]["apply_host_wide_sysctls"]:
            assert host.sysctl(key) == value, key
        else:
            assert f"# {key} = {value}" in rendered, key


def expand_ports(text: str) -> set[int]:
    """"3000,8001-8002" -> {3000, 8001, 8002} (the reserved-ports sysctl's syntax)."""
    ports: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if part:
            low, _, high = part.partition("-")
            ports.update(range(int(low), int(high or low) + 1))
    return ports


def test_no_outgoing_connection_can_take_a_listening_port(host):
    low, high = (int(x) for x in host.check_output(
        "sysctl -n net.ipv4.ip_local_port_range").split())
    reserved = expand_ports(host.check_output("sysctl -n net.ipv4.ip_local_reserved_ports"))
    listening = set()
    for line in host.check_output("ss -Hltnu").splitlines():
        address, _, port = line.split()[4].rpartition(":")
        # Docker's embedded DNS of the twin's network: this machine's dockerd, not ours.
        if not address.startswith("127.0.0.11"):
            listening.add(int(port))
    exposed = sorted(p for p in listening if low <= p <= high and p not in reserved)
    assert exposed == [], f"listening ports outgoing connections may take: {exposed}"


def test_host_wide_sysctls_follow_platform(host, pillar):
    applied = host.file("/etc/sysctl.d/60-golden.conf").content_string
    rendered = host.file("/etc/sysctl.d/61-golden-host-wide.conf").content_string
    if pillar["base"]["apply_host_wide_sysctls"]:
        assert "fs.file-max" in applied
    else:
        # Rendered for the record, never applied: the twin shares the host's kernel.
        assert "fs.file-max" not in applied
        assert "# fs.file-max = 2097152" in rendered


def test_open_files_limit(host):
    assert "nofile 65536" in host.file("/etc/security/limits.d/60-golden.conf").content_string
    assert "DefaultLimitNOFILE=65536" in host.file(
        "/etc/systemd/system.conf.d/60-golden.conf").content_string
