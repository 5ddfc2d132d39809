"""The build record's package set (golden.bake.record.packages_entry): what the image
carries, from the package record the bake downloads from /etc/golden/packages.json."""

from pathlib import Path

import pytest
from golden.bake.record import packages_entry
from golden.bake.request import parse_var_overrides
from golden.core.errors import ConfigError

RECORD = {
    "os": "Ubuntu 22.04.5 LTS",
    "recorded_at": "2026-11-30T10:00:00Z",
    "packages": [
        {"name": "openssl", "version": "3.0.2-0ubuntu1.18", "arch": "amd64",
         "origin": "Ubuntu/jammy-security"},
        {"name": "nginx", "version": "1.18.0-6ubuntu14.5", "arch": "amd64",
         "origin": "Ubuntu/jammy-security"},
        {"name": "amazon-cloudwatch-agent", "version": "1.300052.0b1024-1", "arch": "amd64",
         "origin": "local"},
    ],
    "pending_updates": [{"name": "cloud-init", "security": False}],
    "pending_security": [],
}  # fmt: skip


def test_the_record_names_every_package_with_version_and_origin():
    entry = packages_entry(RECORD, Path("build/bakes/x/packages.json"))
    assert entry["count"] == 3
    assert entry["origins"] == {"Ubuntu/jammy-security": 2, "local": 1}
    assert entry["pending_updates"] == 1 and entry["pending_security"] == []
    assert entry["installed"][2] == {"name": "amazon-cloudwatch-agent",
                                     "version": "1.300052.0b1024-1", "arch": "amd64",
                                     "origin": "local"}
    assert entry["file"] == "build/bakes/x/packages.json"


def test_no_package_record_gives_none():
    assert packages_entry(None, Path("x")) is None


def test_where_the_record_is_downloaded_to_is_the_wrappers_choice():
    with pytest.raises(ConfigError, match="--var packages_path: set by golden bake"):
        parse_var_overrides(["packages_path=/tmp/elsewhere.json"])
