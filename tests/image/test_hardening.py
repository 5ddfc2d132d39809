def test_sshd_refuses_root_and_passwords(host):
    config = host.check_output("sshd -T -C user=nobody,host=localhost,addr=127.0.0.1")
    settings = dict(line.split(" ", 1) for line in config.splitlines() if " " in line)
    assert settings["permitrootlogin"] == "no"
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"


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
    origins = host.file("/etc/apt/apt.conf.d/52golden-unattended-upgrades").content_string
    assert "security" in origins.lower()
