"""Lock files: every input of an image and the dev environment is pinned with hashes, and
a wheelhouse built from a lock installs exactly the locked versions, checked by hash.

The install tests run pip offline (--no-index) against wheels the test makes; nothing
reaches PyPI."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
from golden.core import locks
from golden.core.errors import ConfigError
from golden.twin import wheelhouse
from packaging.markers import Marker
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
ALL_LOCKS = [*locks.IMAGE_LOCKS.values(), locks.DEV_LOCK]


@pytest.mark.parametrize("lock", ALL_LOCKS, ids=str)
def test_every_lock_pins_each_package_exactly_with_hashes(lock):
    pins = locks.read(REPO / lock)
    assert pins, f"{lock} pins nothing"
    # A universal lock may pin two versions for different Pythons; one machine gets one.
    for python in ("3.10", "3.11", "3.12"):
        for env in locks.target_environments(python, "x86_64"):
            names = [p.name for p in pins if p.marker is None or Marker(p.marker).evaluate(env)]
            assert len(names) == len(set(names)), f"one version per package on {env}"


def _inputs(lock: Path) -> list[Requirement]:
    if lock == locks.DEV_LOCK:
        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
        texts = project["dependencies"] + project["optional-dependencies"]["dev"]
    else:
        texts = (REPO / lock.with_suffix(".in")).read_text().splitlines()
    return [Requirement(t.split("#", 1)[0].strip()) for t in texts if t.split("#", 1)[0].strip()]


@pytest.mark.parametrize("lock", ALL_LOCKS, ids=str)
def test_each_lock_satisfies_its_input(lock):
    """`make lock` was run after the input last changed: every requirement of the input
    is pinned, at a version its specifier allows."""
    pinned = {pin.name: pin.version for pin in locks.read(REPO / lock)}
    for requirement in _inputs(lock):
        name = locks.normalize(requirement.name)
        assert name in pinned, f"{lock}: {requirement} is not pinned (run `make lock`)"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock}: {name}=={pinned[name]} does not satisfy {requirement} (run `make lock`)"
        )


def test_the_image_lock_pins_every_runtime_requirement_of_golden():
    """The golden wheel is installed with --require-hashes beside the lock: each of its
    own requirements must be in the lock, or the install in the image fails."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requires = [locks.normalize(Requirement(r).name) for r in project["dependencies"]]
    pins = locks.read(REPO / locks.IMAGE_LOCKS["wheelhouse"])
    assert wheelhouse.missing_from_lock(pins, requires) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("salt>=3008\n", "lock:1: 'salt>=3008': expected NAME==VERSION"),
        ("salt==3008.4\n", "lock:1: salt==3008.4 has no --hash"),
        ("--index-url https://example.invalid/simple\n", "a lock holds only pinned"),
        ("a==1 \\\n    --hash=md5:abc\n", "lock:1: --hash=md5:abc: expected --hash=sha256"),
    ],
)
def test_a_lock_entry_that_is_not_an_exact_hashed_pin_is_refused_naming_the_line(text, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        locks.parse(text)


LOCK_TEXT = """\
async-timeout==5.0.1 ; python_full_version < '3.11.3' \\
    --hash=sha256:{h}
    # via redis
colorama==0.4.6 ; sys_platform == 'win32' \\
    --hash=sha256:{h}
    # via click
redis==8.1.0 \\
    --hash=sha256:{h}
    # via -r requirements.in
salt==3008.4 \\
    --hash=sha256:{h}
    # via -r requirements.in
timelib==0.3.0 \\
    --hash=sha256:{h}
    # via salt
urllib3==2.8.0 \\
    --hash=sha256:{h}
    # via
    #   redis
    #   salt
""".format(h="0" * 64)


def test_markers_are_judged_for_the_image_and_a_full_version_marker_is_kept():
    pins = locks.parse(LOCK_TEXT)
    chosen = [p.name for p in locks.for_target(pins, "3.11", "x86_64")]
    assert "colorama" not in chosen, "a Windows-only pin stays out of a Linux image"
    assert "async-timeout" in chosen, "3.11.0-3.11.2 need it: pip decides in the image"
    assert "async-timeout" not in [p.name for p in locks.for_target(pins, "3.12", "x86_64")]


def test_closure_follows_the_via_graph_and_leaves_salts_own_needs_out():
    pins = locks.parse(LOCK_TEXT)
    assert [p.name for p in locks.closure(pins, ["redis"])] == ["async-timeout", "redis",
                                                                "urllib3"]  # fmt: skip
    names = [p.name for p in locks.closure(pins, ["redis", "salt"], exclude=["salt"])]
    assert "timelib" not in names and "salt" not in names and "urllib3" in names


def test_closure_keeps_a_package_reached_through_several_parents():
    # A diamond: r needs a and b, both need shared, which needs leaf. Counting a visit per
    # parent used to exhaust the walk's bound before leaf was reached.
    def pin(name, via):
        return locks.Pin(name=name, version="1", hashes=("0" * 64,), marker=None, via=via)

    pins = [pin("r", ()), *(pin(f"p{i}", ("r",)) for i in range(6)),
            pin("shared", tuple(f"p{i}" for i in range(6))), pin("leaf", ("shared",))]
    names = {p.name for p in locks.closure(pins, ["r"])}
    assert names == {"r", "shared", "leaf", *(f"p{i}" for i in range(6))}


def test_a_wheel_built_here_from_a_locked_sdist_is_pinned_by_its_own_hash():
    pins = locks.parse(LOCK_TEXT)
    wheels = {"redis-8.1.0-py3-none-any.whl": "0" * 64,
              "timelib-0.3.0-cp311-cp311-linux_x86_64.whl": "1" * 64}  # fmt: skip
    extra, built = wheelhouse.classify_wheels(pins, wheels)
    assert extra == {"timelib": ["1" * 64]}
    assert built == {"timelib-0.3.0-cp311-cp311-linux_x86_64.whl": "1" * 64}
    with pytest.raises(ConfigError, match="not pinned"):
        wheelhouse.classify_wheels(pins, {"redis-9.0.0-py3-none-any.whl": "0" * 64})


# -- installs from a wheelhouse, offline ------------------------------------------------------
def _wheel(folder: Path, name: str, version: str, requires=(), payload: str = "") -> Path:
    """A minimal, installable wheel."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n{payload}",
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
            name, version, "".join(f"Requires-Dist: {r}\n" for r in requires)),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }  # fmt: skip
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name_in, text in files.items():
            archive.writestr(name_in, text)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _install(wheels: Path, target: Path) -> subprocess.CompletedProcess:
    # What scripts/provision.sh runs in the image (--salt-install wheelhouse).
    return _pip("install", "-q", "--require-hashes", "--no-index", "--find-links", str(wheels),
                "-r", str(wheels / "requirements.txt"), "-r", str(wheels / "golden.txt"),
                "--target", str(target))  # fmt: skip


def _installed(target: Path) -> list[str]:
    return sorted(p.name.removesuffix(".dist-info") for p in target.glob("*.dist-info"))


def test_two_bakes_of_the_same_commit_install_the_same_versions_checked_by_hash(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    demo = _wheel(index, "demo", "1.0")
    lock = tmp_path / "wheelhouse-requirements.txt"
    lock.write_text(f"demo==1.0 \\\n    --hash=sha256:{_sha(demo)}\n    # via -r in\n")
    pins = locks.read(lock)
    python, machine = wheelhouse.host_target()
    offline = ["--no-index", "--find-links", str(index)]
    bakes = []
    for number in (1, 2):
        out = tmp_path / f"wheelhouse-{number}"
        wheelhouse._build_wheels(out, pins, python, machine, "stamp", offline)
        golden = _wheel(out, "golden", "0.1.0", requires=["demo"])
        manifest = wheelhouse.write_requirement_files(out, lock, golden)
        assert manifest["lock_digest"] == locks.file_digest(lock)
        target = tmp_path / f"image-{number}"
        installed = _install(out, target)
        assert installed.returncode == 0, installed.stderr
        bakes.append((out, _installed(target)))
        # Between the two bakes a newer release appears on the index.
        _wheel(index, "demo", "2.0")
    assert bakes[0][1] == bakes[1][1] == ["demo-1.0", "golden-0.1.0"]
    assert (bakes[0][0] / "requirements.txt").read_text() == (
        bakes[1][0] / "requirements.txt"
    ).read_text()


def test_a_wheel_that_is_not_the_locked_one_is_refused(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    demo = _wheel(index, "demo", "1.0")
    lock = tmp_path / "wheelhouse-requirements.txt"
    lock.write_text(f"demo==1.0 \\\n    --hash=sha256:{_sha(demo)}\n")
    out = tmp_path / "wheelhouse"
    python, machine = wheelhouse.host_target()
    wheelhouse._build_wheels(out, locks.read(lock), python, machine, "stamp",
                             ["--no-index", "--find-links", str(index)])  # fmt: skip
    golden = _wheel(out, "golden", "0.1.0", requires=["demo"])
    wheelhouse.write_requirement_files(out, lock, golden)
    # Someone swaps the wheel in the wheelhouse after it was built.
    _wheel(out, "demo", "1.0", payload="BACKDOOR = True\n")
    refused = _install(out, tmp_path / "image")
    assert refused.returncode != 0
    assert "DO NOT MATCH THE HASHES" in refused.stderr


def test_the_image_installs_only_with_hash_checking():
    script = (REPO / "scripts" / "provision.sh").read_text()
    installs = [line for line in script.splitlines() if "pip\" install" in line
                or "-m pip install" in line]  # fmt: skip
    assert len(installs) == 4, installs
    assert all("--require-hashes" in line for line in installs)
    for builder in ("appimages.py", "chromaimage.py"):
        text = (REPO / "scripts" / "golden" / "twin" / builder).read_text()
        assert "pip install --require-hashes --no-index" in text
