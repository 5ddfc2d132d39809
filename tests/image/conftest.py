"""The image suite. It runs in two places:

* inside a build (scripts/provision.sh): `pytest --hosts=local:// tests/image` on the
  image being built, before and after its clean-up;
* from this machine against the local twin: `pytest tests/image` boots the twin image in
  its own network namespace and talks to it through testinfra's docker backend.
  GOLDEN_TEST_IMAGE picks the image (default golden/twin-ROLE:latest, e.g. a baked one);
  GOLDEN_TEST_CONTAINER names an instance of it already booted (the suite then boots none).

GOLDEN_ROLE selects the role (app, chroma, base). Tests marked `app_role`, `chroma_role`
or `base_role` apply to that role only; unmarked tests apply to every role, base
included (OS, hardening, Docker, Salt, CloudWatch agent, the cleaned image). The base
image boots no service of its own to wait for, so from this machine it is tested only
as a container someone booted (GOLDEN_TEST_CONTAINER); its bake tests it in place.

Tests marked `image_leftovers` check what the image carries after clean-up; from this
machine they run against a container of the image that is not booted. Tests marked
`build_only` need what only a build has (apt's package lists, removed by the clean-up):
they run inside builds and are deselected from this machine.

Tests marked `sample_app` ask the sample app's own endpoints (/api/whoami, its backend-N
replicas, its pages): they run when the image declares the sample's services (the
default app:services) and are deselected for an image of another app, whose declared
services the unmarked tests check (test_app_services.py, docs/app-contract.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import testinfra

ROLE = os.environ.get("GOLDEN_ROLE", "app")
ROLES = ("app", "chroma", "base")
IMAGE = os.environ.get("GOLDEN_TEST_IMAGE") or f"golden/twin-{ROLE}:latest"
BOOTED = os.environ.get("GOLDEN_TEST_CONTAINER")
# The chroma role's authenticating proxy (pillar chroma:proxy_port).
CHROMA_PROXY_PORT = 8000
# What the app formula writes from app:services (salt/_modules/golden_app.py runtime_plan).
SERVICES_PLAN = "/etc/app/services.json"
# The default app:services (salt/app/defaults.yaml): the sample app.
SAMPLE_SERVICES = frozenset({"backend", "frontend"})


def pytest_configure(config):
    config.addinivalue_line("markers", "image_leftovers: checks the cleaned image")
    config.addinivalue_line("markers", "app_role: only for the app role")
    config.addinivalue_line("markers", "chroma_role: only for the chroma role")
    config.addinivalue_line("markers", "base_role: only for the base role")
    config.addinivalue_line("markers", "finished_image: only checkable once the build ended")
    config.addinivalue_line("markers", "build_only: only checkable inside a build")
    config.addinivalue_line("markers", "sample_app: asks the sample app's own endpoints")
    if ROLE not in ROLES:
        raise pytest.UsageError(f"GOLDEN_ROLE={ROLE!r}: expected one of {', '.join(ROLES)}")
    if ROLE == "base" and not _inside_build(config) and not BOOTED:
        raise pytest.UsageError(
            "GOLDEN_ROLE=base from this machine: set GOLDEN_TEST_CONTAINER to a booted "
            "container of the base image (its bake runs the suite inside the build)")


def pytest_collection_modifyitems(config, items):
    # Deselected, not skipped: checks for the other role, checks of the sample app on an
    # image of another app, and (inside a build) checks of what only exists once the
    # build has finished.
    sample = ROLE != "app" or declares_the_sample(_declared_services(config))

    def wanted(item):
        if not sample and "sample_app" in item.keywords:
            return False
        if ROLE != "app" and "app_role" in item.keywords:
            return False
        if ROLE != "chroma" and "chroma_role" in item.keywords:
            return False
        if ROLE != "base" and "base_role" in item.keywords:
            return False
        if not _inside_build(config) and "build_only" in item.keywords:
            return False
        return not (_inside_build(config) and "finished_image" in item.keywords)

    keep = [item for item in items if wanted(item)]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


def _inside_build(config) -> bool:
    return bool(config.getoption("hosts", None))


def declares_the_sample(plan: dict | None) -> bool:
    """Whether a services plan (services.json's content) runs the sample app. None (no
    plan to read: the suite collected off an image, as tests/bake does) is the default
    pillar's, the sample."""
    if plan is None:
        return True
    return {service["name"] for service in plan.get("services", [])} == SAMPLE_SERVICES


def _declared_services(config) -> dict | None:
    """The image's services plan: read in place inside a build, else from the booted
    container (GOLDEN_TEST_CONTAINER) or a throwaway container of IMAGE. None when the
    file or the image is absent; pytest.UsageError when it cannot be read or parsed."""
    if _inside_build(config):
        try:
            with open(SERVICES_PLAN, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return None
    elif not BOOTED and (shutil.which("docker") is None
                         or _docker("image", "inspect", IMAGE, check=False).returncode):
        return None  # no image yet: the suite's own twin image is the sample's
    else:
        argv = (["exec", BOOTED, "cat", SERVICES_PLAN] if BOOTED else
                ["run", "--rm", "--network", "none", "--entrypoint", "cat", IMAGE,
                 SERVICES_PLAN])  # fmt: skip
        result = _docker(*argv, check=False)
        if result.returncode != 0:
            if "No such file" in result.stderr:
                return None
            raise pytest.UsageError(f"{SERVICES_PLAN} of {BOOTED or IMAGE}: {result.stderr}")
        text = result.stdout
    try:
        return json.loads(text)
    except ValueError as exc:
        raise pytest.UsageError(f"{SERVICES_PLAN}: not JSON ({exc})") from None


def _docker(*args, check=True, timeout=120):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=timeout)


@pytest.fixture(scope="session")
def twin(request):
    """A booted twin of the image (only from this machine), its user data the launch
    template's, its dependencies the local stand-ins; or the one GOLDEN_TEST_CONTAINER
    names, booted by whoever runs the suite."""
    from golden.twin import build as twin_mod

    if BOOTED:
        assert _docker("inspect", "-f", "{{.State.Running}}", BOOTED,
                       check=False).stdout.strip() == "true", \
            f"GOLDEN_TEST_CONTAINER={BOOTED}: no such running container"
        yield {"name": BOOTED}
        return
    seed = request.getfixturevalue("local_standins") if ROLE == "app" else None
    spec = twin_mod.TwinSpec(role=ROLE, name=f"golden-imgtest-{uuid.uuid4().hex[:6]}",
                             port=int(os.environ.get("GOLDEN_TEST_PORT", "18080")),
                             image=IMAGE, seed_dir=str(seed) if seed else None)
    result = twin_mod.up(spec, wait=120)
    yield result
    twin_mod.down(spec.name)


@pytest.fixture(scope="session")
def host(request):
    if _inside_build(request.config):
        host = testinfra.get_host(request.config.getoption("hosts").split(",")[0])
    else:
        result = request.getfixturevalue("twin")
        host = testinfra.get_host(f"docker://{result['name']}")
    if ROLE == "app":
        # app.service's containers take a while to come up after a highstate or a boot;
        # nginx marks a replica that refused connections down for a few seconds.
        assert wait_for(lambda: all_replicas_healthy(host), timeout=180, interval=1), \
            "the app's containers did not all become healthy"
    # chroma.service starts its container after the highstate or the boot returns; the
    # build's clean-up stops it (releasing the scratch volume), so nothing to wait for then.
    if ROLE == "chroma" and host.run("systemctl is-active chroma").stdout.strip() != "inactive":
        assert wait_for(lambda: http(host, "/healthz", port=CHROMA_PROXY_PORT) == 200,
                        timeout=120, interval=1), \
            "the chroma proxy's /healthz did not answer 200"
    return host


def all_replicas_healthy(host) -> bool:
    """golden's own probe from the host (no healthcheck runs inside the images): every
    replica of app:services answers its health path on 127.0.0.1 (or, a worker, runs)."""
    return host.run("/usr/local/sbin/golden-app-roll --project app --file /opt/app/compose.yaml "
                    "--env-file /run/app/limits.env --probe-url http://127.0.0.1:80/healthz "
                    "--services /etc/app/services.json --check").rc == 0


@pytest.fixture(scope="session")
def image_host(request):
    """The cleaned image's files: the build host itself after clean-up, or a container of
    the image started without systemd."""
    if _inside_build(request.config):
        # Not the `host` fixture: after clean-up the app's containers are gone by design.
        yield testinfra.get_host(request.config.getoption("hosts").split(",")[0])
        return
    name = f"{BOOTED or 'golden-imgfiles'}-files-{uuid.uuid4().hex[:6]}"
    _docker("run", "-d", "--name", name, "--network", "none", "--entrypoint", "sleep",
            IMAGE, "600")
    yield testinfra.get_host(f"docker://{name}")
    _docker("rm", "-f", name, check=False)


@pytest.fixture(scope="session")
def ssh_audit(request, host):
    """ssh-audit's JSON report (PyPI ssh-audit, -j) of this host's sshd, run on the host
    itself against 127.0.0.1:22: inside a build from the test venv; from this machine the
    package is copied into the twin for the run and removed after it (the twin's sshd is
    not published)."""
    if _inside_build(request.config):
        result = host.run(f"{sys.executable} -m ssh_audit -j -t 20 127.0.0.1")
    else:
        import ssh_audit as package

        name = request.getfixturevalue("twin")["name"]
        work = f"/var/tmp/golden-ssh-audit-{uuid.uuid4().hex[:6]}"
        host.run_test(f"mkdir -p {work}")
        try:
            _docker("cp", os.path.dirname(package.__file__), f"{name}:{work}/ssh_audit")
            result = host.run(f"cd {work} && python3 -m ssh_audit -j -t 20 127.0.0.1")
        finally:
            host.run(f"rm -rf {work}")
    # Exit codes 0-2 say good, warnings, failures; anything else is no report.
    assert result.rc in (0, 1, 2), f"ssh-audit did not run: {result.stdout}{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[0])


@pytest.fixture(scope="session")
def pillar(host):
    out = host.check_output("/opt/salt/bin/salt-call --local --out=json pillar.items unmask=True")
    return json.loads(out)["local"]


@pytest.fixture(scope="session")
def plan(host):
    """The declared services as the app formula expanded them (SERVICES_PLAN)."""
    return json.loads(host.file(SERVICES_PLAN).content_string)


@pytest.fixture(scope="session")
def replicas(pillar):
    return pillar["app"]["backend_replicas"]


def http(host, path, *headers, method="GET", port=80):
    """Status code of a request to this host's nginx, from inside the host."""
    args = " ".join(f"-H '{h}'" for h in headers)
    cmd = (f"curl -s -o /dev/null -w '%{{http_code}}' -X {method} {args} "
           f"http://127.0.0.1:{port}{path}")
    return int(host.check_output(cmd))


def body(host, path, *headers):
    args = " ".join(f"-H '{h}'" for h in headers)
    return host.check_output(f"curl -s --max-time 10 {args} http://127.0.0.1:80{path}")


def wait_for(predicate, timeout=60, interval=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
