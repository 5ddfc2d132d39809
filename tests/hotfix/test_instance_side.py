"""`golden instance hotfix|drift` on an "instance" in a directory, with the real
salt-call: bundles are checked before anything changes, trees swap whole, --revert brings
the previous tree back, test runs and drift checks change nothing."""

from __future__ import annotations

import fcntl
import json
import os

import pytest
from click.testing import CliRunner
from golden.core.errors import ConfigError, OperationFailed
from golden.instance import hotfix as inst
from golden.instance import serving


def quiet(*_args):
    pass


def test_first_hotfix_moves_the_baked_tree_aside_applies_and_records(salt_world):
    layout = salt_world.layout
    assert inst.status(layout=layout)["tree"]["source"] == "baked"
    bundle = salt_world.bundle("v1")
    record = inst.apply(str(bundle.path), bundle.sha256, layout=layout, progress=quiet)
    assert record["result"] == "success"
    assert record["states"]["changed"] == 1 and record["states"]["failed"] == 0
    assert [s["id"] for s in record["changed"]] == ["demo-file-managed"]
    assert salt_world.demo() == "v1"
    assert (layout.srv / "salt").is_symlink() and (layout.srv / "pillar").is_symlink()
    assert record["tree"]["bundle_sha256"] == bundle.sha256
    assert record["previous_tree"]["source"] == "baked"
    assert record["previous_tree"]["commit"] == "b" * 40
    on_disk = json.loads((layout.etc / "hotfix.json").read_text())
    assert on_disk["bundle"]["sha256"] == bundle.sha256 and on_disk["states"]["changed"] == 1
    status = inst.status(layout=layout)
    assert status["tree"]["bundle_sha256"] == bundle.sha256
    assert status["previous_tree"]["source"] == "baked"
    assert status["last"]["hotfix"]["result"] == "success"
    # Unpacked files carry the time of unpacking, not the bundle's fixed one: Salt's file
    # hash cache is keyed by path and mtime and would otherwise serve the old content.
    assert os.stat(layout.srv / "salt" / "demo.sls").st_mtime > 315532800 + 10
    again = inst.apply(str(bundle.path), bundle.sha256, layout=layout, progress=quiet)
    assert again["result"] == "success" and again["states"]["changed"] == 0


def test_a_failing_state_is_reported_and_revert_restores_the_previous_tree(salt_world):
    layout = salt_world.layout
    good = salt_world.bundle("good")
    inst.apply(str(good.path), good.sha256, layout=layout, progress=quiet)
    bad = salt_world.bundle("bad", fail=True)
    failed = inst.apply(str(bad.path), bad.sha256, layout=layout, progress=quiet)
    assert failed["result"] == "failed"
    assert [s["id"] for s in failed["failed"]] == ["demo-check-fails"]
    assert "bad" in salt_world.srv_tree()
    reverted = inst.revert(layout=layout, progress=quiet)
    assert reverted["result"] == "success" and reverted["mode"] == "revert"
    assert reverted["tree"]["bundle_sha256"] == good.sha256
    assert "good" in salt_world.srv_tree() and salt_world.demo() == "good"
    assert json.loads((layout.etc / "hotfix.json").read_text())["mode"] == "revert"


def test_revert_without_a_previous_tree_is_refused(salt_world):
    with pytest.raises(ConfigError, match="no previous tree"):
        inst.revert(layout=salt_world.layout, progress=quiet)


def test_a_bundle_with_the_wrong_sha_changes_nothing(salt_world):
    bundle = salt_world.bundle("v1")
    with pytest.raises(ConfigError, match="sha256 is"):
        inst.apply(str(bundle.path), "0" * 64, layout=salt_world.layout, progress=quiet)
    assert not (salt_world.layout.srv / "salt").is_symlink()
    assert salt_world.demo() == "baked"


def test_a_tree_that_does_not_render_is_refused_before_the_swap(salt_world):
    bundle = salt_world.bundle("v2", broken=True)
    with pytest.raises(ConfigError, match="does not render"):
        inst.apply(str(bundle.path), bundle.sha256, layout=salt_world.layout, progress=quiet)
    assert not (salt_world.layout.srv / "salt").is_symlink()
    assert not list(salt_world.layout.trees.glob(".unpack-*"))
    assert salt_world.demo() == "baked"


def test_test_mode_reports_what_would_change_and_changes_nothing(salt_world):
    layout = salt_world.layout
    bundle = salt_world.bundle("v3")
    record = inst.apply(str(bundle.path), bundle.sha256, test=True, layout=layout, progress=quiet)
    assert record["mode"] == "test" and record["result"] == "success"
    assert [s["id"] for s in record["changed"]] == ["demo-file-managed"]
    assert salt_world.demo() == "baked" and "baked" in salt_world.srv_tree()
    assert not (layout.etc / "hotfix.json").exists()
    assert json.loads((layout.etc / "drift.json").read_text())["mode"] == "test"


def test_a_manual_edit_is_drift_until_the_next_highstate(salt_world):
    layout = salt_world.layout
    assert inst.drift(layout=layout, progress=quiet)["drifted"] is False
    (salt_world.out / "demo.txt").write_text("edited by hand")
    found = inst.drift(layout=layout, progress=quiet)
    assert found["drifted"] is True
    assert [s["id"] for s in found["changed"]] == ["demo-file-managed"]
    assert salt_world.demo() == "edited by hand"
    bundle = salt_world.bundle("baked")
    inst.apply(str(bundle.path), bundle.sha256, layout=layout, progress=quiet)
    assert inst.drift(layout=layout, progress=quiet)["drifted"] is False


def test_one_run_at_a_time(salt_world):
    layout = salt_world.layout
    layout.lock.parent.mkdir(parents=True, exist_ok=True)
    with open(layout.lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(OperationFailed, match="another hotfix"):
            inst.drift(layout=layout, progress=quiet)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bundle", "x.tar.gz"], "--sha256: required"),
        (["--revert", "--status"], "exactly one of"),
        (["--test", "--revert"], "--test and --dry-run go with --bundle"),
    ],
)
def test_instance_command_rejects_bad_flag_combinations(args, message):
    from golden.cli import main

    result = CliRunner().invoke(main, ["instance", "hotfix", *args])
    assert result.exit_code == 2 and message in result.stderr


# -- the pillar schema travels with the tree ---------------------------------------------------
def _layout(tmp_path):
    srv = tmp_path / "srv"
    for tree in ("salt", "pillar"):
        (srv / tree).mkdir(parents=True)
        (srv / tree / "top.sls").write_text("base: {}\n")
    return inst.Layout(srv=srv, store=srv / "golden-hotfix", etc=tmp_path / "etc",
                       nginx_access_log=tmp_path / "no-nginx.log")


def test_the_baked_schemas_become_a_third_link_through_current(tmp_path):
    layout = _layout(tmp_path)
    (layout.srv / "schemas").mkdir()
    (layout.srv / "schemas" / "pillar.schema.json").write_text("{}\n")
    inst.ensure_store(layout)
    for tree in ("salt", "pillar", "schemas"):
        link = layout.srv / tree
        assert link.is_symlink() and os.readlink(link) == f"golden-hotfix/current/{tree}"
    assert (layout.srv / "schemas" / "pillar.schema.json").read_text() == "{}\n"


def test_an_image_baked_before_schemas_still_converts(tmp_path):
    layout = _layout(tmp_path)
    inst.ensure_store(layout)
    assert (layout.srv / "salt" / "top.sls").is_file()
    # Points at nothing until a tree that has schemas/ is current.
    assert (layout.srv / "schemas").is_symlink() and not (layout.srv / "schemas").exists()
    inst.ensure_store(layout)
    assert (layout.srv / "salt" / "top.sls").is_file()


def test_a_store_converted_before_schemas_gains_the_link(tmp_path):
    layout = _layout(tmp_path)
    inst.ensure_store(layout)
    (layout.srv / "schemas").unlink()
    inst.ensure_store(layout)
    assert os.readlink(layout.srv / "schemas") == "golden-hotfix/current/schemas"


def _guarded_bundle(salt_world, name: str, platform: str, *, schemas: bool = True):
    """This checkout's salt/ (and schemas/) with a one-file pillar, bundled."""
    import shutil

    from golden.hotfix import bundle as hotfix_bundle
    from hotfix_support import REPO

    src = salt_world.tmp / name
    for tree in ("salt", "schemas") if schemas else ("salt",):
        shutil.copytree(REPO / tree, src / tree, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "pillar").mkdir()
    (src / "pillar" / "top.sls").write_text("base:\n  '*':\n    - golden\n")
    (src / "pillar" / "golden.sls").write_text(f"golden: {{role: base, platform: {platform}}}\n")
    return hotfix_bundle.build(src, salt_world.tmp / "bundles", commit=name)


def _guard_problems(salt_world, tree) -> list[str]:
    """What the pillar guard says with the tree's salt/ and pillar/ as Salt's roots."""
    import subprocess

    layout = salt_world.layout
    base = [layout.salt_call, "-c", layout.salt_config_dir, "--local", "--out=json",
            "--file-root", str(tree / "salt"), "--pillar-root", str(tree / "pillar"),
            "--cachedir", str(salt_world.tmp / f"cache-{tree.name}")]  # fmt: skip
    for args in (["saltutil.sync_modules", "saltenv=base"], ["golden_pillar.problems"]):
        proc = subprocess.run(base + args, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["local"]


@pytest.mark.parametrize(
    "platform, schemas, problem",
    [
        ("aws", True, None),
        ("gcp", True, "golden:platform: expected 'aws' or 'twin', got 'gcp'"),
        ("aws", False, "schemas/pillar.schema.json: the pillar schema cannot be read"),
    ],
)
def test_the_pillar_guard_of_an_unpacked_bundle_reads_the_bundles_own_schema(
    salt_world, platform, schemas, problem
):
    from golden.hotfix import bundle as hotfix_bundle

    bundle = _guarded_bundle(salt_world, f"guarded-{platform}-{schemas}", platform, schemas=schemas)
    tree = salt_world.layout.trees / "unpacked"
    hotfix_bundle.unpack(bundle.path, bundle.sha256, tree)
    problems = _guard_problems(salt_world, tree)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]
        assert str(tree) in problems[0] or "schemas" not in problem


def test_a_bundle_of_this_checkouts_state_tree_pre_renders(salt_world):
    bundle = _guarded_bundle(salt_world, "guarded", "aws")
    assert "schemas/pillar.schema.json" in bundle.manifest["files"]
    record = inst.apply(
        str(bundle.path), bundle.sha256, dry_run=True, layout=salt_world.layout, progress=quiet
    )
    assert record["result"] == "success"
    assert salt_world.demo() == "baked"


def test_drift_waits_for_units_still_starting_and_never_reports_them(tmp_path):
    """A unit caught starting (app.service in `compose up --wait`) is not drift: drift
    waits, bounded, until systemd has no job left."""
    calls = tmp_path / "calls"
    fake = tmp_path / "systemctl"
    fake.write_text("#!/bin/sh\necho x >> " + str(calls) + "\n"
                    "[ $(wc -l < " + str(calls) + ") -le 2 ] && "
                    "echo '17 app.service start running'\nexit 0\n")  # fmt: skip
    fake.chmod(0o755)
    slept = []
    assert serving.wait_settled(str(fake), 60, progress=lambda _: None, sleep=slept.append) == []
    assert len(slept) == 2  # two polls saw the job, the third found none
    calls.unlink()
    stuck = tmp_path / "stuck"
    stuck.write_text("#!/bin/sh\necho '17 app.service start running'\n")
    stuck.chmod(0o755)
    clock = iter(range(0, 1000, 30))
    left = serving.wait_settled(str(stuck), 60, progress=lambda _: None, sleep=lambda _: None,
                                clock=lambda: next(clock))  # fmt: skip
    assert left == ["app.service"]


def test_requests_nginx_failed_during_a_highstate_are_counted(tmp_path):
    """A hotfix that dropped requests must not report Success: nginx's own log of the
    window says how many requests no replica served."""
    log = tmp_path / "access.log"
    log.write_text('{"status":502}\n')  # before the highstate: not counted
    offset = serving.log_size(log)
    with log.open("a") as handle:
        handle.write('{"status":200}\n{"status":502}\n{"status":502}\n{"status":504}\n'
                     '{"status":429}\nnot json\n{"status":500}\n')  # fmt: skip
    counts = serving.failed_requests_since(log, offset, flush_seconds=0)
    assert counts == {502: 2, 504: 1}
    assert "3 request(s) failed" in serving.dropped_message(counts)
    assert serving.failed_requests_since(tmp_path / "none.log", None, flush_seconds=0) == {}
