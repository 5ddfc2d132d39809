"""`golden bench bake`'s decisions: which bakes run in which order, and the table."""

import pytest
from golden.bench import bake as bench_bake
from golden.core.errors import ConfigError


def test_the_base_is_baked_first_then_each_role_both_ways():
    assert bench_bake.plan(["chroma"]) == [("base", False), ("chroma", False), ("chroma", True)]
    assert bench_bake.plan(["app", "chroma"])[0] == ("base", False)
    assert len(bench_bake.plan(["app", "chroma"])) == 5


def test_unknown_or_no_roles_are_refused():
    with pytest.raises(ConfigError, match="--role"):
        bench_bake.plan(["base"])
    with pytest.raises(ConfigError, match="--role"):
        bench_bake.plan([])


def test_table_shows_what_the_second_stage_saves_per_release_bake():
    rows = bench_bake.table({("base", False): 100.0, ("app", False): 200.0,
                             ("app", True): 50.0})  # fmt: skip
    assert rows == [{
        "role": "app", "one stage s": 200.0, "base s": 100.0, "role from base s": 50.0,
        "two stages total s": 150.0, "release bake saved": "150 s (75%)",
    }]  # fmt: skip


def test_dry_run_names_a_repository_per_kind_of_bake(tmp_path):
    result = bench_bake.run_bench(["app"], repo=tmp_path, repository="x/{role}", dry_run=True)
    assert [b["repository"] for b in result["bakes"]] == ["x/base", "x/app", "x/app-from-base"]
    with pytest.raises(ConfigError, match="must contain"):
        bench_bake.run_bench(["app"], repo=tmp_path, repository="x/fixed", dry_run=True)
