"""Patched at bake: every pending update is applied before the states run
(scripts/provision.sh), so no security update is pending in a finished image, and the
image records its package set (name, version, origin) in /etc/golden/packages.json."""

import json
import re

import pytest

SIMULATE = ("apt-get --simulate -o Debug::NoLocking=1 "
            "-o APT::Get::Always-Include-Phased-Updates=true upgrade --with-new-pkgs")


def installed(host) -> dict[str, str]:
    out = host.check_output(
        r"dpkg-query -W -f '${binary:Package}\t${Version}\t${db:Status-Abbrev}\n'")
    return {name: version for name, version, status in
            (line.split("\t") for line in out.splitlines()) if status.strip() == "ii"}


@pytest.mark.build_only
def test_no_security_update_is_pending(host):
    # Without the security suite's list the simulation would find nothing to report.
    lists = host.run("ls /var/lib/apt/lists/ | grep -- '-security.*_Packages'")
    assert lists.rc == 0, "apt has no list of the security suite: nothing could be checked"
    pending = [line for line in host.check_output(SIMULATE).splitlines()
               if line.startswith("Inst ") and "security" in line.split("(", 1)[-1].lower()]
    assert pending == [], "security updates pending in the image:\n" + "\n".join(pending)


def test_the_image_records_its_package_set(host):
    record = json.loads(host.file("/etc/golden/packages.json").content_string)
    recorded = {p["name"]: p["version"] for p in record["packages"]}
    assert recorded == installed(host)
    assert record["pending_security"] == []
    origins = {p["name"]: p["origin"] for p in record["packages"]}
    # Packages that came from an archive name it; the security suite is among them.
    assert origins["openssl"] != "local"
    assert any("security" in origin for origin in origins.values())


def test_apt_retries_each_download_as_the_pillar_says(host, pillar):
    # Unattended upgrades on an instance and every package state of a highstate
    # download through apt: a mirror's passing error is retried, not a failure.
    # The suite runs where PyYAML may be missing (inside a bake): the formula's default
    # is read from its defaults file as text.
    defaults = host.file("/srv/salt/base/defaults.yaml").content_string
    default = re.search(r"^  apt_retries: (\d+)", defaults, re.M)
    assert default, "salt/base/defaults.yaml: no defaults:apt_retries"
    wanted = (pillar.get("base") or {}).get("apt_retries")
    wanted = int(default.group(1)) if wanted is None else wanted
    dump = host.check_output("apt-config dump Acquire::Retries")
    assert f'Acquire::Retries "{wanted}";' in dump.splitlines()
