"""The base role renders what every role shares and nothing of a role, and each role's
highstate contains every base state with the same arguments: a role bake that starts from
a base image re-applies them as no-ops, so its image matches a bake from the OS image."""

import json

import pytest

# Rendered with the role's hardening settings (the ports its role opens), by design.
ROLE_DEPENDENT = {"hardening-firewall-rules-managed", "hardening-unattended-upgrades-security-only"}


def _definition(state: dict) -> str:
    """A state's module and arguments, without where it was included from or its order."""
    kept = {key: [arg for arg in args if not (isinstance(arg, dict) and "order" in arg)]
            for key, args in state.items() if not key.startswith("__")}  # fmt: skip
    return json.dumps(kept, sort_keys=True)


@pytest.mark.parametrize("platform", ["aws", "twin"])
def test_base_role_renders_the_shared_states_only(minion_factory, platform):
    ids = set(minion_factory("base", platform, "Ubuntu").show_highstate())
    for sid in ("base-chrony-service-running", "hardening-firewall-rules-managed",
                "docker-service-running", "cloudwatch-agent-config-managed",
                "golden-salt-minion-config-managed", "golden-image-json-present"):  # fmt: skip
        assert sid in ids
    assert not [sid for sid in ids if sid.startswith(("app-", "nginx-", "chroma-"))]
    assert not [sid for sid in ids if sid.startswith("golden-boot-")]


@pytest.mark.parametrize("role", ["app", "chroma"])
@pytest.mark.parametrize("platform", ["aws", "twin"])
def test_every_base_state_is_in_the_role_highstate_unchanged(minion_factory, role, platform):
    base = minion_factory("base", platform, "Debian").show_highstate()
    full = minion_factory(role, platform, "Debian").show_highstate()
    assert set(base) <= set(full), sorted(set(base) - set(full))
    changed = {sid for sid in base if _definition(base[sid]) != _definition(full[sid])}
    assert changed <= ROLE_DEPENDENT, sorted(changed - ROLE_DEPENDENT)


def test_base_pillar_opens_no_http(minion_factory):
    pillar = minion_factory("base", "aws", "Debian").pillar()
    assert pillar["golden"]["role"] == "base"
    assert pillar["hardening"]["http_open"] is False
    assert "app" not in pillar and "nginx" not in pillar
