"""What the cleaned image must not carry (amazon-eks-ami style validation)."""

import pytest

pytestmark = pytest.mark.image_leftovers


def test_machine_id_is_empty(image_host):
    assert image_host.file("/etc/machine-id").size == 0


def test_no_ssh_host_keys(image_host):
    assert image_host.run("ls /etc/ssh/ssh_host_*").rc != 0


def test_no_authorized_keys_or_history(image_host):
    found = image_host.run("ls /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys "
                           "/root/.bash_history /home/*/.bash_history 2>/dev/null")
    assert found.stdout.strip() == ""


def test_no_credentials(image_host):
    for path in ("/root/.aws", "/root/.docker/config.json", "/etc/app/app.env"):
        assert not image_host.file(path).exists, path


def test_no_build_machine_identities(image_host):
    for path in ("/etc/docker/key.json", "/etc/salt/minion_id"):
        assert not image_host.file(path).exists, path


def test_no_apt_lists(image_host):
    lists = image_host.run("find /var/lib/apt/lists -type f").stdout.strip()
    assert lists == ""


def test_no_apt_caches(image_host):
    # Downloaded packages and the binary caches apt builds from its lists (tens of MB).
    found = image_host.run(
        r"find /var/cache/apt -type f \( -name '*.deb' -o -name '*.bin' \)").stdout.strip()
    assert found == ""
    kib = image_host.check_output(
        "du -sk /var/cache/apt /var/lib/apt/lists | awk '{s+=$1} END {print s}'")
    assert int(kib) < 1024, f"{kib} KiB of apt caches and lists"


def test_no_packages_left_half_removed(image_host):
    states = image_host.check_output(r"dpkg-query -W -f '${db:Status-Abbrev} ${binary:Package}\n'")
    assert [line for line in states.splitlines() if line.startswith("rc")] == []


def test_cloud_init_is_clean(image_host):
    assert not image_host.file("/var/lib/cloud/instance").exists


@pytest.mark.finished_image
def test_no_build_uploads(image_host):
    assert not image_host.file("/var/tmp/golden").exists
    assert not image_host.file("/var/tmp/golden-tests").exists


def test_no_docker_scratch_directories(image_host):
    # dockerd renames them at start; as directories of an image layer overlayfs refuses that.
    for path in ("/var/lib/docker/runtimes", "/var/lib/docker/tmp"):
        assert not image_host.file(path).exists, path
