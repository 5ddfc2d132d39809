"""Scenarios a and b of the release rehearsal, end to end: two real bakes, real instances
(twin containers booted from launch-template user data) behind HAProxy, under load from
the project's Locust file, driven by `golden env apply` and `golden release` through the
emulator. About 10 minutes; see docs/rehearsal.md for what is real and what is emulated."""

from __future__ import annotations

import pytest
from golden.core import containers
from golden.rehearsal import plan, run

pytestmark = [pytest.mark.twin, pytest.mark.slow]


@pytest.fixture(scope="module")
def rehearsal(twin_inputs):
    names = plan.Names(18580).validate()
    result = run.rehearse(run.Options(names=names, scenarios=("a", "b"), users=50))
    yield result
    assert run.leftovers() == {"containers": [], "processes": []}


def _row(result, key):
    return next(r for r in result["rows"] if r["scenario"].startswith(f"{key}."))


def test_a_good_release_reaches_every_instance_without_a_failed_request(rehearsal):
    row = _row(rehearsal, "a")
    assert row["problems"] == [], row
    assert row["refresh"] == "Successful"
    assert row["requests"] > 100 and row["failed"] == 0
    assert row["details"]["answers after"] == {"v2": 40}
    # v2 was baked on v1's image (the twin image), not from the base OS image.
    v2 = containers.image_inspect(rehearsal["images"]["v2"])["Config"]["Labels"]
    assert v2["golden:source-image"] == rehearsal["images"]["v1"]
    assert v2["golden:tested"] == "true"
    assert row["instances"] == "2 (v1, v1) -> 2 (v2, v2)"
    assert row["launch_to_healthy_s"] is not None and row["memory_mib"]


def test_a_bad_image_rolls_itself_back_without_a_failed_request(rehearsal):
    row = _row(rehearsal, "b")
    assert row["problems"] == [], row
    assert row["details"]["exit"] == 4
    assert row["refresh"] == "RollbackSuccessful"
    assert row["failed"] == 0 and row["requests"] > 100
    assert row["instances"] == "2 (v2, v2) -> 2 (v2, v2)"
    # v3 was baked on v2's tested image, not from the base OS image (plan.Variant).
    labels = containers.image_inspect(rehearsal["images"]["v3"])["Config"]["Labels"]
    assert labels["golden:source-image"] == rehearsal["images"]["v2"]
    assert labels["golden:tested"] == "true" and labels["golden:role"] == "app"


def test_the_rehearsal_refuses_to_start_while_its_ports_are_taken():
    import socket

    from golden.core.errors import PreflightError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 18680))
        sock.listen()
        with pytest.raises(PreflightError, match="127.0.0.1:18680"):
            run.preflight(run.Options(names=plan.Names(18680), scenarios=("a",)))
