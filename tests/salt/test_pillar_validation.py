"""A bad pillar stops the highstate while the top file renders, before any state runs,
with a message naming the key."""

import shutil

import pytest
import yaml

from .conftest import REPO


def broken_pillar_root(tmp_path, mutate):
    root = tmp_path / "pillar"
    shutil.copytree(REPO / "pillar", root)
    path = root / "roles" / "app.sls"
    data = yaml.safe_load(path.read_text())
    mutate(data)
    path.write_text(yaml.safe_dump(data))
    return root


CASES = {
    "wrong type": (lambda p: p["app"].update(backend_replicas="three"),
                   "app:backend_replicas: expected integer"),
    "missing key": (lambda p: p["nginx"].pop("lb_cidrs"),
                    "nginx:lb_cidrs: required key is missing"),
    "unknown role": (lambda p: p["golden"].update(role="worker"),
                     "golden:role: expected 'app', 'chroma' or 'base', got 'worker'"),
    "unknown key": (lambda p: p["nginx"].update(client_max_body="1m"),
                    "nginx:client_max_body: unknown key"),
    "secret in pillar": (lambda p: p["app"].update(db_password="hunter2"),
                         "app:db_password: secrets do not belong in pillar"),
    # Checked across services (golden_pillar.app_service_problems), not by the schema.
    "route taken twice": (lambda p: p["app"].update(services={
        "backend": {"image": "backend", "port": 8001, "port_mechanism": "BIND",
                    "health_path": "/health", "routes": ["/"]},
        "frontend": {"image": "frontend", "port": 3000, "port_mechanism": "PORT",
                     "routes": ["/"]}}),
        "app:services:frontend:routes: '/' is already routed to backend"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_pillar_fails_render_naming_the_key(minion_factory, tmp_path, case):
    mutate, message = CASES[case]
    pillar_root = broken_pillar_root(tmp_path, mutate)
    minion = minion_factory("app", "aws", "Debian", pillar_root=pillar_root)
    proc = minion.call("state.show_highstate", check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def test_unknown_role_grain_is_refused(minion_factory):
    proc = minion_factory("worker", "aws", "Debian").call("state.show_highstate", check=False)
    assert proc.returncode != 0
    assert "grain role: unknown role 'worker'" in proc.stdout + proc.stderr
