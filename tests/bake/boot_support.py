"""Booting a baked image the way an instance boots, and running the image suite
(tests/image) against it with testinfra's docker backend.

An instance's boot step needs its settings document (cloud-init user data) and its secrets
from SSM Parameter Store. Here the user data is what the release tool renders for ENV=local,
except that SSM is an emulator container of this test's own (the stand-ins image runs it on
the twin network). Not modelled: the database, Redis, Chroma and S3 stand-ins are not
started (the suite does not reach them; tests/local does), so /healthz/deps would fail."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from golden.core import containers, instance_doc
from golden.twin import baseimage, localstack
from golden.twin import build as twin

REPO = Path(__file__).resolve().parents[2]
# Every container these tests start is named with this prefix (override to share a host).
PREFIX = os.environ.get("GOLDEN_TEST_PREFIX", "golden-bakeboot-")
# 127.0.0.1 ports: the SSM emulator, a booted app image, a booted chroma image.
SSM_PORT = int(os.environ.get("GOLDEN_TEST_SSM_PORT", "15680"))
APP_PORT = SSM_PORT + 1
CHROMA_PORT = SSM_PORT + 2
SUITE_TIMEOUT = 1200


def name(purpose: str) -> str:
    return f"{PREFIX}{purpose}-{uuid.uuid4().hex[:6]}"


def packer_container_args(purpose: str) -> str:
    """twin_run_extra_args naming Packer's build container (HCL list)."""
    return f'["--name", "{name(purpose)}"]'


def _standins_image() -> str:
    # Reused when present: rebuilding it follows every change of this checkout's code.
    if containers.image_inspect(localstack.STANDINS_IMAGE) is None:
        base = baseimage.build(baseimage.BaseImageSpec())["image"]
        localstack.build_standins(base)
    return localstack.STANDINS_IMAGE


@contextmanager
def ssm_standin():
    """An SSM emulator on the twin network holding the local environment's secrets
    (fresh random values); yields its in-network endpoint URL."""
    import boto3

    image = _standins_image()
    container = name("ssm")
    containers.network_ensure(twin.NETWORK, twin.SUBNET)
    subprocess.run(
        ["docker", "run", "-d", "--name", container, "--hostname", container,
         "--network", twin.NETWORK, "-p", f"127.0.0.1:{SSM_PORT}:5000", image,
         "/opt/moto/bin/python", "-m", "autoscaling.emulator", "--host", "0.0.0.0",
         "--port", "5000"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        settings = localstack.environment_settings()
        ssm = boto3.client("ssm", region_name=settings["region"],
                           endpoint_url=f"http://127.0.0.1:{SSM_PORT}",
                           aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
        path = settings["instance"]["ssm_path"].rstrip("/")
        deadline = time.monotonic() + 60
        while True:
            try:
                for secret in instance_doc.SECRET_NAMES:
                    ssm.put_parameter(
                        Name=f"{path}/{secret}",
                        Type="SecureString",
                        Value=secrets.token_urlsafe(24),
                        Overwrite=True,
                    )
                break
            except Exception:  # noqa: BLE001 - the emulator is still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield f"http://{container}:5000"
    finally:
        containers.remove_container(container)


def write_seed(folder: Path, role: str, aws_endpoint: str) -> Path:
    """A NoCloud seed carrying the launch template's user data for ENV=local, pointed at
    the test's SSM emulator."""
    doc = instance_doc.from_environment(localstack.environment_settings(), role)
    doc["aws"]["endpoint_url"] = aws_endpoint
    folder.mkdir(parents=True, exist_ok=True)
    text = instance_doc.render_user_data(doc)
    for file_name, content in localstack.seed_files(text, name(role)).items():
        (folder / file_name).write_text(content)
    return folder


@contextmanager
def booted(image: str, role: str, port: int, seed: Path):
    """A twin instance of ``image`` that reached /healthz 200; yields twin.up's result."""
    spec = twin.TwinSpec(role=role, name=name(role), port=port, image=image, seed_dir=str(seed))
    try:
        yield twin.up(spec, wait=180)
    finally:
        twin.down(spec.name)


def run_image_suite(role: str, image: str, container: str, report: Path) -> dict:
    """tests/image against the booted ``container`` (and ``image`` for the cleaned-image
    checks), in its own pytest process as a user runs it. Returns the exit code, the
    counts from its JUnit report and the output's tail."""
    import xml.etree.ElementTree as ET

    env = {**os.environ, "GOLDEN_ROLE": role, "GOLDEN_TEST_IMAGE": image,
           "GOLDEN_TEST_CONTAINER": container}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE",
         f"--junitxml={report}", str(REPO / "tests" / "image")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT,
    )  # fmt: skip
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if report.exists():
        root = ET.parse(report).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        counts = {key: int(suite.get(key, 0)) for key in counts}
    return {"returncode": proc.returncode, **counts,
            "tail": "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])}  # fmt: skip


def assert_booted_image_passes_suite(image: str, role: str, port: int, tmp_path: Path) -> None:
    """Boot ``image`` like an instance (user data, secrets from an SSM stand-in) and run
    tests/image against it; the role's own test module must have run and passed."""
    with ssm_standin() as endpoint:
        seed = write_seed(tmp_path / "seed", role, endpoint)
        with booted(image, role, port, seed) as instance:
            suite = run_image_suite(role, image, instance["name"], tmp_path / "report.xml")
    assert suite["returncode"] == 0, suite["tail"]
    assert suite["failures"] == suite["errors"] == 0 and suite["tests"] > 30, suite
    assert f"test_{role}" in (tmp_path / "report.xml").read_text()
