"""What `golden cost` prices as CloudWatch metrics and logs comes from the agent config the
state tree renders for each role (salt-call state.show_sls, nothing applied): the counts
tests/unit/costdata.py uses by hand are the ones the shipped config emits."""

from __future__ import annotations

import pytest
from golden.cost import agentconfig, monitoring

from tests.unit import costdata


@pytest.mark.parametrize("role", ["app", "chroma"])
def test_the_agent_config_emits_what_the_cost_tests_price(role):
    got = monitoring.emissions(agentconfig.render(role))
    want = costdata.AGENTS[role]
    # mem 2 + disk 2 (on "/") + swap 1 per instance, again per [ASG] and [ASG, ImageId].
    assert (got.metrics_per_instance, got.metrics_per_group) == (5, 10)
    suffixes = {name.split("/", 3)[-1]: days for name, days in got.log_groups.items()}
    assert suffixes == {name.split("/", 2)[-1]: days for name, days in want.log_groups.items()}


def test_the_agent_config_is_found_in_the_agents_folder_only():
    rendered = {
        "a": {"file": [{"name": "/opt/aws/amazon-cloudwatch-agent/etc/x.json"},
                       {"dataset": {"logs": {}}}, "serialize", {"order": 2}]},
        "b": {"file": [{"name": "/etc/other.json"}, {"dataset": {"x": 1}}, "serialize"]},
        "c": {"file": [{"name": "/opt/aws/amazon-cloudwatch-agent/etc/y.json"},
                       {"dataset": {"metrics": {}}}, "serialize", {"order": 1}]},
        "d": {"cmd": [{"name": "true"}, "run"]},
    }  # fmt: skip
    docs = agentconfig.documents(rendered, agentconfig.agent_folder())
    assert docs == [{"metrics": {}}, {"logs": {}}], "in state order, other files left out"
