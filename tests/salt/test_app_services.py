"""The app's services declared in pillar (app:services, docs/app-contract.md): rendered into
the compose file, nginx's upstreams and routes, the reserved ports and the plan the roll
and runtime scripts read; a bad declaration refused naming the key.

Rendered with Salt's own renderer (salt-call --local show_highstate) and the templates'
contexts, as the other render tests do; nothing runs a container."""

from __future__ import annotations

import copy
import importlib.util
import json

import pytest
import yaml

from . import nginxconf
from .conftest import REPO, pillar_root_with, rendered, state_args


def _module(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "salt" / "_modules" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def golden_app():
    return _module("golden_app")


@pytest.fixture(scope="module")
def guard():
    return _module("golden_pillar")

HARDENING = {"cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"], "read_only": True}
# The timeout chain's derived values for the default timeouts (map.jinja): gunicorn's
# graceful timeout 300 + 5, its keep-alive 30 + 5, the stop grace 305 + 5.
GRACEFUL, KEEPALIVE, STOP_GRACE = 305, 35, 310

FASTAPI_NEXTJS = {
    "api": {"image": "api", "port": 8001, "replicas": 3, "port_mechanism": "GUNICORN_CMD_ARGS",
            "health_path": "/healthz/live", "routes": ["/api/"], "workers": True,
            "environment": {"GUNICORN_CMD_ARGS": "--access-logfile -"}},
    "web": {"image": "web", "port": 3000, "replicas": 1, "port_mechanism": "PORT",
            "health_path": "/", "routes": ["/"], "settings": False, "scratch": False,
            "memory_mb": 384, "stop_grace_seconds": 20},
}  # fmt: skip
WORKER = {"jobs": {"image": "api", "port": None, "replicas": 1,
                   "args": ["celery", "-A", "app.tasks", "worker", "-n", "{replica}"]}}  # fmt: skip


def render_app(minion_factory, tmp_path, images, **app):
    """(compose, nginx, services.json, reserved ports) of the app role rendered with the
    repository's pillar, an archive manifest pinning ``images`` and ``app`` merged in."""
    manifest = tmp_path / "app-images.json"
    manifest.write_text(json.dumps({"images": {k: {"id": "sha256:" + k[0] * 64}
                                               for k in images}}))  # fmt: skip
    root = pillar_root_with(tmp_path, "roles/app.sls", "app", image_manifest=str(manifest), **app)
    highstate = minion_factory("app", "aws", "Debian", pillar_root=root).show_highstate()
    compose = yaml.safe_load(rendered(highstate, "app-compose-file-managed"))
    nginx = nginxconf.parse(rendered(highstate, "nginx-site-config-managed"))
    plan = json.loads(state_args(highstate, "app-services-plan-managed")["contents"])
    sysctl = highstate["base-sysctl-net.ipv4.ip_local_reserved_ports-set"]["sysctl"]
    reserved = next(item["value"] for item in sysctl if isinstance(item, dict) and "value" in item)
    return compose, nginx, plan, reserved


def servers(conf, upstream):
    return [args[0] for args in conf.find("upstream", upstream).get("server")]


def proxied(conf, *location):
    return conf.find("location", *location).get("proxy_pass")[0][0]


def test_the_default_pillar_runs_the_sample_as_before_without_in_image_healthchecks(
        minion_factory, tmp_path):
    compose, nginx, plan, reserved = render_app(minion_factory, tmp_path, ["backend", "frontend"])
    services = compose["services"]
    assert list(services) == ["backend-1", "backend-2", "frontend"]
    for index, name in enumerate(["backend-1", "backend-2"]):
        assert services[name]["environment"] == {
            "REPLICA_NAME": name, "BIND": f"127.0.0.1:{8001 + index}",
            "GUNICORN_GRACEFUL_TIMEOUT": str(GRACEFUL), "GUNICORN_KEEPALIVE": str(KEEPALIVE),
            "ACCESS_LOG": "false"}
        assert [f["path"] for f in services[name]["env_file"]] == [
            "/etc/app/app-settings.env", "/etc/app/app.env", "/run/app/runtime.env"]
        assert services[name]["tmpfs"] == ["/tmp:size=${BACKEND_SCRATCH:-256m},mode=1777"]
        assert services[name]["mem_limit"] == "${BACKEND_MEMORY:-1g}"
    assert services["frontend"]["environment"] == {
        "REPLICA_NAME": "frontend", "FRONTEND_HOST": "127.0.0.1", "FRONTEND_PORT": "3000"}
    assert "env_file" not in services["frontend"] and "tmpfs" not in services["frontend"]
    for name, service in services.items():
        # Health is golden's probe from the host: no program of golden's in the image,
        # and the image's own HEALTHCHECK (built for another port) is off.
        assert service["healthcheck"] == {"disable": True}, name
        assert {k: service[k] for k in HARDENING} == HARDENING, name
        assert service["network_mode"] == "host" and service["stop_grace_period"] == "310s"
        assert "command" not in service and "entrypoint" not in service
    assert servers(nginx, "backend") == ["127.0.0.1:8001", "127.0.0.1:8002"]
    assert servers(nginx, "frontend") == ["127.0.0.1:3000"]
    assert proxied(nginx, "/api/") == proxied(nginx, "/api/chat/") == "http://backend"
    assert proxied(nginx, "/api/upload") == "http://backend"
    assert proxied(nginx, "/") == "http://frontend"
    assert proxied(nginx, "=", "/healthz") == "http://backend_health/health"
    assert servers(nginx, "backend_health") == ["127.0.0.1:8001", "127.0.0.1:8002"]
    assert reserved == "3000,8001-8002,8081"
    assert [(c["name"], c["port"], c["health_path"], c["healthz"]) for c in plan["containers"]] \
        == [("backend-1", 8001, "/health", True), ("backend-2", 8002, "/health", True),
            ("frontend", 3000, "/health", False)]  # fmt: skip


def test_a_fastapi_and_nextjs_declaration_is_told_its_ports_their_way(minion_factory, tmp_path):
    compose, nginx, plan, reserved = render_app(
        minion_factory, tmp_path, ["api", "web"], services=FASTAPI_NEXTJS,
        healthz_service="api")
    services = compose["services"]
    assert list(services) == ["api-1", "api-2", "api-3", "web"]
    assert services["api-2"]["environment"] == {
        "REPLICA_NAME": "api-2",
        # golden's arguments first, the service's own after them: both apply.
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:8002 --graceful-timeout {GRACEFUL} "
                             f"--keep-alive {KEEPALIVE} --access-logfile -"}
    assert services["api-1"]["image"] == "sha256:" + "a" * 64
    assert "/run/app/runtime.env" in [f["path"] for f in services["api-3"]["env_file"]]
    assert services["web"]["environment"] == {
        "REPLICA_NAME": "web", "PORT": "3000", "HOST": "127.0.0.1", "HOSTNAME": "127.0.0.1",
        "KEEP_ALIVE_TIMEOUT": str(KEEPALIVE * 1000)}
    assert services["web"]["stop_grace_period"] == "20s"
    assert services["web"]["mem_limit"] == "${WEB_MEMORY:-1g}"
    assert servers(nginx, "api") == ["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"]
    assert proxied(nginx, "/api/") == proxied(nginx, "/api/chat/") == "http://api"
    assert proxied(nginx, "/") == "http://web"
    assert proxied(nginx, "=", "/healthz") == "http://api_health/healthz/live"
    assert reserved == "3000,8001-8003,8081"
    web = next(s for s in plan["services"] if s["name"] == "web")
    assert web == {"name": "web", "prefix": "WEB", "replicas": 1, "workers": False,
                   "memory_mb": 384, "routes": ["/"]}


def test_the_examples_declaration_deploys_their_own_images_their_way(minion_factory, tmp_path):
    """examples/golden-pillar.yaml, what the examples' twin is provisioned with: the
    schema and the pillar guard accept it, gunicorn is told its address through
    GUNICORN_CMD_ARGS (the image's own is replaced), Next.js through PORT/HOSTNAME."""
    app = yaml.safe_load((REPO / "examples" / "golden-pillar.yaml").read_text())["app"]
    # The archive the bake uploads; here a manifest in tmp_path stands for it.
    assert (app.pop("image_archive"), app.pop("image_manifest")) == (
        "/var/tmp/golden/images/byo-app.tar", "/var/tmp/golden/images/byo-app.json")
    compose, nginx, plan, reserved = render_app(minion_factory, tmp_path, ["api", "web"], **app)
    services = compose["services"]
    assert list(services) == ["api-1", "api-2", "web"]  # app:backend_replicas: 2
    assert services["api-1"]["environment"]["GUNICORN_CMD_ARGS"] == (
        f"--bind 127.0.0.1:8001 --graceful-timeout {GRACEFUL} --keep-alive {KEEPALIVE} "
        "--access-logfile -")
    assert services["web"]["environment"]["PORT"] == "3000"
    assert services["web"]["environment"]["HOSTNAME"] == "127.0.0.1"
    assert "command" not in services["api-1"] and "command" not in services["web"]
    assert proxied(nginx, "/api/") == "http://api" and proxied(nginx, "/") == "http://web"
    assert proxied(nginx, "=", "/healthz") == "http://api_health/health"
    assert [(c["name"], c["health_path"]) for c in plan["containers"]] == [
        ("api-1", "/health"), ("api-2", "/health"), ("web", "/")]


def test_a_worker_without_a_port_runs_with_no_port_probe_or_route(minion_factory, tmp_path):
    compose, nginx, plan, reserved = render_app(
        minion_factory, tmp_path, ["api", "web"], services={**FASTAPI_NEXTJS, **WORKER},
        healthz_service="api")
    jobs = compose["services"]["jobs"]
    assert jobs["command"] == ["celery", "-A", "app.tasks", "worker", "-n", "jobs"]
    assert jobs["environment"] == {"REPLICA_NAME": "jobs"}
    assert {k: jobs[k] for k in HARDENING} == HARDENING
    assert [b.args for b in nginx.walk() if b.name == "upstream"] == [
        ["api"], ["web"], ["api_health"]]
    assert next(c for c in plan["containers"] if c["name"] == "jobs") == {
        "name": "jobs", "service": "jobs", "port": None, "health_path": None,
        "stop_grace": STOP_GRACE, "healthz": False}
    assert reserved == "3000,8001-8003,8081"


# -- the expansion itself (pure) ----------------------------------------------------------------
CHAIN = {"gunicorn_graceful": GRACEFUL, "gunicorn_keepalive": KEEPALIVE, "stop_grace": STOP_GRACE}


def expand(golden_app, **service):
    spec = {"image": "x", "port": 9000, "replicas": 1, **service}
    return golden_app.containers({"services": {"svc": spec}, "chain": CHAIN})[0]


@pytest.mark.parametrize(("mechanism", "extra", "expected"), [
    ("UVICORN_PORT", {}, {"UVICORN_HOST": "127.0.0.1", "UVICORN_PORT": "9000",
                          "UVICORN_TIMEOUT_KEEP_ALIVE": "35",
                          "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN": "305"}),
    ("BIND", {}, {"BIND": "127.0.0.1:9000"}),
    ("GUNICORN_CMD_ARGS", {}, {"GUNICORN_CMD_ARGS":
                               "--bind 127.0.0.1:9000 --graceful-timeout 305 --keep-alive 35"}),
    ("env", {"environment": {"LISTEN": "{host}:{port}"}}, {"LISTEN": "127.0.0.1:9000"}),
])  # fmt: skip
def test_each_port_mechanism_sets_its_variables(golden_app, mechanism, extra, expected):
    env = expand(golden_app, port_mechanism=mechanism, **extra)["environment"]
    assert env == {"REPLICA_NAME": "svc", **expected}


def test_the_args_mechanism_fills_the_template_and_escapes_compose_interpolation(golden_app):
    row = expand(golden_app, port_mechanism="args", command=["/app/server"],
                 args=["--listen", "{host}:{port}", "--name", "$HOME-{replica}"])
    assert row["entrypoint"] == ["/app/server"]
    assert row["command"] == ["--listen", "127.0.0.1:9000", "--name", "$$HOME-svc"]
    assert row["environment"] == {"REPLICA_NAME": "svc"}


# -- a bad declaration is refused naming the key -----------------------------------------------
def app_pillar(services, **app):
    pillar = yaml.safe_load((REPO / "pillar" / "roles" / "app.sls").read_text())
    pillar["golden"]["platform"] = "aws"
    pillar["app"].update({"services": copy.deepcopy(services), "healthz_service": "api", **app})
    return pillar


def with_(name, **changes):
    services = copy.deepcopy(FASTAPI_NEXTJS)
    services[name].update(changes)
    return services


@pytest.mark.parametrize(("services", "app", "problem"), [
    (with_("api", port_mechanism="SOCKET"), {},
     "app:services:api:port_mechanism: expected 'PORT', 'GUNICORN_CMD_ARGS', 'UVICORN_PORT', "
     "'BIND', 'args' or 'env', got 'SOCKET'"),
    (with_("api", replicas=0), {}, "app:services:api:replicas: expected 1..16, got 0"),
    (with_("api", health_path="health"), {},
     "app:services:api:health_path: expected a path starting with /, got 'health'"),
    (with_("web", routes=["/api/"]), {},
     "app:services:web:routes: '/api/' is already routed to api: expected each prefix once"),
    ({**FASTAPI_NEXTJS, "admin": {"image": "web", "port": 4000, "port_mechanism": "PORT",
                                  "routes": ["/"]}}, {},
     "app:services:web:routes: '/' is already routed to admin: expected each prefix once"),
    (with_("web", port=8003), {},
     "app:services:web:port: its replicas use ports 8003-8003, which api already use(s): "
     "expected a range of its own"),
    (with_("web", port=8081), {},
     "app:services:web:port: its replicas use ports 8081-8081, which nginx:status_port "
     "already use(s)"),
    ({**FASTAPI_NEXTJS, **WORKER, "jobs": {**WORKER["jobs"], "routes": ["/jobs/"]}}, {},
     "app:services:jobs:routes: a service without a port (a worker) has nothing to route to: "
     "expected null"),
    ({**FASTAPI_NEXTJS, **WORKER, "jobs": {**WORKER["jobs"], "health_path": "/health"}}, {},
     "app:services:jobs:health_path: a service without a port (a worker) has nothing to "
     "probe: expected null"),
    (with_("api", port_mechanism=None), {},
     "app:services:api:port_mechanism: required key is missing (when port is set"),
    (with_("api", port_mechanism="args", args=["serve"]), {},
     "app:services:api:args: expected {port} in an argument (port_mechanism args)"),
    (with_("api", port_mechanism="env", environment={"X": "1"}), {},
     "app:services:api:environment: expected {port} in a value (port_mechanism env)"),
    (FASTAPI_NEXTJS, {"healthz_service": "backend"},
     "app:healthz_service: 'backend' is not a service of app:services: expected one of api, web"),
    (with_("api", health_path=None), {},
     "app:healthz_service: 'api' has no port or no health_path"),
    (FASTAPI_NEXTJS, {"image_source": "registry", "images": {"api": "r@sha256:" + "a" * 64}},
     "app:images:web: required key is missing (app:services:web runs it; image_source is "
     "registry)"),
    ({"API": FASTAPI_NEXTJS["api"]}, {"healthz_service": "API"},
     "app:services:API: expected a service name"),
    (with_("api", port=80), {}, "app:services:api:port: expected 1024..65535, got 80"),
    (with_("api", image=None), {}, "app:services:api:image: expected string, got NoneType"),
    (with_("api", workers="yes"), {}, "app:services:api:workers: expected boolean"),
    (with_("api", colour="blue"), {}, "app:services:api:colour: unknown key"),
])  # fmt: skip
def test_a_bad_service_declaration_is_refused_naming_the_key(guard, services, app, problem):
    problems = guard.check(app_pillar(services, **app), "app")
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_the_declarations_shown_here_pass(guard):
    assert guard.check(app_pillar(FASTAPI_NEXTJS), "app") == []
    assert guard.check(app_pillar({**FASTAPI_NEXTJS, **WORKER}), "app") == []


def test_pillar_example_documents_every_key_of_a_service():
    schema = json.loads((REPO / "schemas" / "pillar.schema.json").read_text())
    example = yaml.safe_load((REPO / "pillar" / "pillar.example").read_text())
    keys = set(schema["$defs"]["app_service"]["properties"])
    documented = set().union(*(spec for spec in example["app"]["services"].values()))
    assert sorted(keys - documented) == []
    assert "healthz_service" in example["app"]
