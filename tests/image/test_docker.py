import json


def test_daemon_json_rotates_logs_and_live_restores(host):
    conf = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert conf["log-driver"] == "json-file"
    assert conf["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert conf["live-restore"] is True
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LiveRestoreEnabled"] is True
    assert info["LoggingDriver"] == "json-file"


def test_compose_v2_is_installed(host):
    assert host.check_output("docker compose version --short").startswith("2.")
