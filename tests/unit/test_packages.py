"""The image's package record (golden instance packages): which archive each installed
version came from, and which pending updates are security updates. The texts below are
what apt and dpkg print on Debian 12 and Ubuntu 22.04."""

from __future__ import annotations

from golden.instance import packages as P

DPKG = (
    "adduser\t3.134\tall\tii \n"
    "libc6:amd64\t2.36-9+deb12u9\tamd64\tii \n"
    "openssl\t3.0.15-1~deb12u1\tamd64\tii \n"
    "docker-compose\t2.26.1-4\tamd64\tii \n"
    "old-kernel\t1.0\tamd64\trc \n"
)

POLICY_SOURCES = """\
Package files:
 100 /var/lib/dpkg/status
     release a=now
 500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
     release v=12,o=Debian,a=stable-security,n=bookworm-security,l=Debian-Security,c=main,b=amd64
     origin deb.debian.org
 500 http://deb.debian.org/debian bookworm-updates/main amd64 Packages
     release v=12-updates,o=Debian,a=stable-updates,n=bookworm-updates,l=Debian,c=main,b=amd64
     origin deb.debian.org
 500 http://deb.debian.org/debian bookworm/main amd64 Packages
     release v=12.8,o=Debian,a=stable,n=bookworm,l=Debian,c=main,b=amd64
     origin deb.debian.org
Pinned packages:
"""

POLICY = """\
adduser:
  Installed: 3.134
  Candidate: 3.134
  Version table:
 *** 3.134 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
libc6:
  Installed: 2.36-9+deb12u9
  Candidate: 2.36-9+deb12u9
  Version table:
 *** 2.36-9+deb12u9 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
        100 /var/lib/dpkg/status
openssl:
  Installed: 3.0.15-1~deb12u1
  Candidate: 3.0.15-1~deb12u1
  Version table:
 *** 3.0.15-1~deb12u1 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
        100 /var/lib/dpkg/status
     3.0.11-1~deb12u2 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
docker-compose:
  Installed: 2.26.1-4
  Candidate: 2.26.1-4
  Version table:
 *** 2.26.1-4 100
        100 /var/lib/dpkg/status
     1.29.2-3 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
"""

SIMULATED_DEBIAN = """\
Reading package lists...
Building dependency tree...
The following packages will be upgraded:
  base-files libgcrypt20 liblzma5
Inst base-files [12.4+deb12u7] (12.4+deb12u8 Debian:12.8/stable [amd64])
Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.8/stable, Debian-Security:12/stable-security [amd64])
Inst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/stable-security [amd64])
Inst linux-image-6.1.0-28-amd64 (6.1.119-1 Debian-Security:12/stable-security [amd64])
Conf base-files (12.4+deb12u8 Debian:12.8/stable [amd64])
"""  # noqa: E501

SIMULATED_UBUNTU = """\
Inst libexpat1 [2.4.7-1ubuntu0.3] (2.4.7-1ubuntu0.5 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64])
Inst python3-pip [22.0.2+dfsg-1ubuntu0.4] (22.0.2+dfsg-1ubuntu0.5 UbuntuESMApps:22.04/jammy-apps-security [all])
Inst cloud-init [24.1.3-0ubuntu1~22.04.5] (24.4-0ubuntu1~22.04.1 Ubuntu:22.04/jammy-updates [all])
"""  # noqa: E501


def test_only_fully_installed_packages_are_listed():
    names = [p["name"] for p in P.parse_installed(DPKG)]
    assert names == ["adduser", "docker-compose", "libc6:amd64", "openssl"]


def test_each_installed_version_is_named_by_the_archive_that_carries_it():
    rec = P.record(P.parse_installed(DPKG), P.parse_policy(POLICY),
                   P.parse_releases(POLICY_SOURCES), [], os_name="Debian GNU/Linux 12",
                   recorded_at="2026-11-30T00:00:00Z")  # fmt: skip
    origins = {p["name"]: p["origin"] for p in rec["packages"]}
    assert origins == {
        "adduser": "Debian/bookworm",
        # Carried by the point release and the security suite: the security suite is named.
        "libc6:amd64": "Debian/bookworm-security",
        "openssl": "Debian/bookworm-security",
        # Only dpkg's status file has this version: it came from a .deb file.
        "docker-compose": P.LOCAL,
    }
    assert rec["count"] == 4 and rec["pending_security"] == []


def test_a_version_table_entry_below_the_installed_one_is_not_its_origin():
    policy = P.parse_policy(POLICY)
    assert policy["openssl"] == [
        "http://deb.debian.org/debian-security bookworm-security/main amd64 Packages",
        "/var/lib/dpkg/status",
    ]
    assert policy["docker-compose"] == ["/var/lib/dpkg/status"]


def test_pending_updates_are_security_when_any_origin_is_a_security_suite():
    pending = {p["name"]: p for p in P.parse_simulated_upgrade(SIMULATED_DEBIAN)}
    assert set(pending) == {"base-files", "libgcrypt20", "liblzma5", "linux-image-6.1.0-28-amd64"}
    assert not pending["base-files"]["security"]
    assert pending["libgcrypt20"]["security"]
    assert pending["liblzma5"] == {
        "name": "liblzma5", "installed": "5.4.1-1", "candidate": "5.4.1-1+deb12u2",
        "origins": ["Debian-Security:12/stable-security"], "security": True,
    }  # fmt: skip
    # A package new to the system (a kernel) has no installed version.
    assert pending["linux-image-6.1.0-28-amd64"]["installed"] is None


def test_ubuntu_security_and_esm_suites_count_as_security():
    pending = {p["name"]: p["security"] for p in P.parse_simulated_upgrade(SIMULATED_UBUNTU)}
    assert pending == {"libexpat1": True, "python3-pip": True, "cloud-init": False}


def test_the_record_lists_pending_security_updates_apart():
    rec = P.record([], {}, {}, P.parse_simulated_upgrade(SIMULATED_DEBIAN), os_name="x",
                   recorded_at="t")
    assert rec["pending_security"] == ["libgcrypt20", "liblzma5", "linux-image-6.1.0-28-amd64"]
    assert len(rec["pending_updates"]) == 4


def test_write_replaces_the_record_readable_by_all(tmp_path):
    path = tmp_path / "golden" / "packages.json"
    P.write({"count": 1}, path)
    P.write({"count": 2}, path)
    assert '"count": 2' in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["packages.json"]
