"""On the real host: a broken pillar stops the highstate before any state runs, naming
the key, and nothing changes (the broken pillar would also change nginx's config)."""

import pytest

pytestmark = pytest.mark.app_role

BREAKS = {
    "wrong type": ("backend_replicas: 2", "backend_replicas: two",
                   "app:backend_replicas: expected integer"),
    "missing key": ("  backend_replicas: 2\n", "", "app:backend_replicas: required key is missing"),
    "unknown role": ("  role: app", "  role: appserver",
                     "golden:role: expected 'app', 'chroma' or 'base', got 'appserver'"),
}


@pytest.mark.parametrize("kind", list(BREAKS))
def test_broken_pillar_changes_nothing(host, kind):
    old, new, message = BREAKS[kind]
    work = f"/var/tmp/golden-badpillar-{kind.replace(' ', '-')}"
    conf = "/etc/nginx/conf.d/golden.conf"
    before = host.check_output(f"sha256sum {conf} /opt/app/compose.yaml")
    host.run_test(f"rm -rf {work} && cp -a /srv/pillar {work}")
    app_sls = f"{work}/roles/app.sls"
    content = host.file(app_sls).content_string
    assert old in content
    # The broken pillar would also shrink uploads: a state that ran would show here.
    broken = content.replace(old, new).replace("client_max_body_size: 100m",
                                                "client_max_body_size: 1m")
    host.run_test(f"cat > {app_sls} <<'EOF'\n{broken}\nEOF")
    try:
        result = host.run(f"/opt/salt/bin/salt-call --local --pillar-root={work} "
                          "state.highstate --retcode-passthrough")
    finally:
        host.run(f"rm -rf {work}")
    assert result.rc != 0
    assert message in result.stdout + result.stderr
    assert "nginx-site-config-managed" not in result.stdout, "states ran despite the broken pillar"
    assert host.check_output(f"sha256sum {conf} /opt/app/compose.yaml") == before
