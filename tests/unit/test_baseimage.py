"""The twin's base image lists the security and updates suites, as a cloud image does,
and is upgraded from them when it is made (golden.twin.baseimage, no Docker needed)."""

import pytest
from golden.core.errors import ConfigError
from golden.twin import baseimage


@pytest.mark.parametrize("suite, expected", [
    ("bookworm", [
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    ]),
    ("jammy", [
        "deb http://archive.ubuntu.com/ubuntu jammy main universe",
        "deb http://archive.ubuntu.com/ubuntu jammy-updates main universe",
        "deb http://security.ubuntu.com/ubuntu jammy-security main universe",
    ]),
])  # fmt: skip
def test_sources_list_the_release_its_updates_and_its_security_suite(suite, expected):
    spec = baseimage.BaseImageSpec(suite=suite).resolved()
    assert baseimage.sources_list(spec).splitlines() == expected


def test_the_image_is_upgraded_from_those_sources_before_anything_is_installed():
    script = baseimage.configure_script(baseimage.BaseImageSpec().resolved())
    sources = script.index("bookworm-security main")
    apt = "apt-get -o Acquire::Retries=5"
    upgrade = script.index(f"{apt} upgrade -y")
    install = script.index(f"{apt} install")
    assert sources < script.index(f"{apt} update") < upgrade < install


def test_mirrors_are_parameters_and_change_the_inputs():
    mirrored = baseimage.BaseImageSpec(
        suite="bookworm", mirror="http://mirror.example/debian",
        security_mirror="http://mirror.example/debian-security").resolved()  # fmt: skip
    assert "deb http://mirror.example/debian-security bookworm-security main" in (
        baseimage.sources_list(mirrored))
    default = baseimage.BaseImageSpec().resolved()
    assert baseimage.inputs_hash(mirrored) != baseimage.inputs_hash(default)


def test_an_unknown_suite_needs_its_security_mirror_named():
    with pytest.raises(ConfigError, match="--security-mirror"):
        baseimage.BaseImageSpec(suite="trixie", mirror="http://deb.debian.org/debian",
                                components="main").resolved()
