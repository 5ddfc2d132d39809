from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from golden.twin import build as twin
from golden.twin import localstack


def docker(*args, check=True, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=timeout)


def get(port: int, path: str, timeout: float = 20) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def wait_for(predicate, timeout=60, interval=0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


@pytest.fixture(scope="session")
def stack_twin(local_standins):
    """A twin booted exactly like `make local` boots one (its own name and port)."""
    spec = twin.TwinSpec(role="app", name=f"golden-e2e-{uuid.uuid4().hex[:6]}", port=18081,
                         seed_dir=str(local_standins))
    result = twin.up(spec, wait=180)
    yield {**result, "port": spec.port}
    twin.down(spec.name)


@pytest.fixture(scope="session")
def secret_values(local_standins) -> dict[str, str]:
    return localstack.ensure_secrets()


def custom_seed(tmp_path: Path, mutate) -> Path:
    """A NoCloud seed whose instance document was changed by ``mutate`` (for faults)."""
    from golden.core import instance_doc

    doc = instance_doc.from_environment(localstack.environment_settings(), "app")
    mutate(doc)
    # Rendered by hand: render_user_data validates, and these documents are invalid on
    # purpose.
    text = ("#cloud-config\nwrite_files:\n  - path: /etc/golden/instance.json\n"
            "    permissions: '0644'\n    content: |\n"
            + "".join(f"      {line}\n" for line in json.dumps(doc, indent=2).splitlines()))
    seed = tmp_path / "seed"
    seed.mkdir()
    instance_id = f"golden-fault-{uuid.uuid4().hex[:6]}"
    for name, content in localstack.seed_files(text, instance_id).items():
        (seed / name).write_text(content)
    return seed
