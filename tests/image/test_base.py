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
