"""Pure parts of hotfix and drift: Salt's JSON into a summary, the bundle format, rate
flags, the probe's verdict, the per-instance table and the reminders."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from golden.core.errors import ConfigError
from golden.hotfix import bundle as hotfix_bundle
from golden.hotfix import plan as hotfix_plan
from golden.hotfix import results as hotfix_result


def state(sid, result, changes=None, *, fn="file_|-{}_|-/etc/x_|-managed", run=0, **kw):
    return fn.format(sid), {
        "__id__": sid,
        "result": result,
        "changes": changes or {},
        "comment": kw.get("comment", ""),
        "__run_num__": run,
        "__sls__": "nginx.config",
        "duration": kw.get("duration", 10.0),
        "name": "/etc/x",
    }


def salt_json(*states) -> str:
    return json.dumps({"local": dict(states)})


# -- Salt's output -------------------------------------------------------------------------------
def test_summary_counts_changed_failed_and_unchanged_states_in_run_order():
    out = salt_json(
        state("b-changed", True, {"diff": "..."}, run=2),
        state("a-same", True, run=0),
        state(
            "c-broken",
            False,
            comment="nginx: [emerg] invalid value",
            run=1,
            fn="cmd_|-{}_|-nginx -t_|-run",
        ),
    )
    summary = hotfix_result.summarise(hotfix_result.parse_output(out), test=False, retcode=2)
    assert summary["states"] == {"total": 3, "changed": 1, "failed": 1, "unchanged": 1}
    assert [s["id"] for s in summary["changed"]] == ["b-changed"]
    assert summary["failed"][0] == {
        "id": "c-broken",
        "function": "cmd.run",
        "name": "/etc/x",
        "sls": "nginx.config",
        "comment": "nginx: [emerg] invalid value",
    }
    assert summary["result"] == "failed"
    assert summary["salt_seconds"] == 0.03


def test_in_test_mode_a_none_result_is_a_state_that_would_change():
    out = salt_json(
        state(
            "reload",
            None,
            comment="Service nginx is set to be reloaded",
            fn="service_|-{}_|-nginx_|-running",
        ),
        state("same", True),
    )
    summary = hotfix_result.summarise(hotfix_result.parse_output(out), test=True, retcode=0)
    assert [s["id"] for s in summary["changed"]] == ["reload"]
    assert summary["result"] == "success"
    applied = hotfix_result.summarise(hotfix_result.parse_output(out), test=False, retcode=0)
    assert applied["states"]["changed"] == 0


def test_command_output_is_kept_as_detail_of_a_changed_state():
    out = salt_json(
        state(
            "app-replicas-rolled",
            True,
            {"retcode": 0, "stdout": "backend-1: recreated\nbackend-2: recreated", "stderr": ""},
            fn="cmd_|-{}_|-golden-app-roll_|-run",
        )
    )
    summary = hotfix_result.summarise(hotfix_result.parse_output(out), test=False, retcode=0)
    assert summary["changed"][0]["detail"] == ["backend-1: recreated", "backend-2: recreated"]


def test_render_errors_fail_the_summary_with_the_message():
    out = json.dumps({"local": ["Rendering SLS 'base:nginx' failed: Jinja error"]})
    summary = hotfix_result.summarise(hotfix_result.parse_output(out), test=False, retcode=1)
    assert summary["result"] == "failed"
    assert summary["errors"] == ["Rendering SLS 'base:nginx' failed: Jinja error"]


def test_no_json_at_all_is_an_error_naming_the_exit_code_and_output():
    summary = hotfix_result.summarise(None, test=False, retcode=1, raw="Traceback...\nBoom")
    assert summary["result"] == "failed" and "exit 1" in summary["errors"][0]
    assert "Boom" in summary["errors"][0]


def test_a_non_zero_exit_without_a_failed_state_is_not_a_success():
    summary = hotfix_result.summarise({}, test=False, retcode=2)
    assert summary["result"] == "failed"


def test_long_lists_are_capped_so_the_record_fits_ssm_output():
    states = [state(f"s{i}", True, {"diff": "x"}, run=i) for i in range(100)]
    summary = hotfix_result.summarise(
        hotfix_result.parse_output(salt_json(*states)), test=False, retcode=0
    )
    assert len(summary["changed"]) == hotfix_result.MAX_ITEMS
    assert summary["changed_not_listed"] == 100 - hotfix_result.MAX_ITEMS
    assert summary["states"]["changed"] == 100


def test_the_record_is_found_as_the_last_json_line_of_the_output():
    text = 'golden hotfix: progress\n{"schema": 1, "mode": "apply", "result": "success"}\n'
    assert hotfix_result.from_stdout(text)["mode"] == "apply"
    assert hotfix_result.from_stdout("bash: golden: not found") is None
    assert hotfix_result.from_stdout('{"unrelated": true}') is None


# -- the bundle -------------------------------------------------------------------------------
def make_tree(root, top="base: {}\n", *, schemas=True):
    (root / "salt" / "nginx").mkdir(parents=True)
    (root / "pillar").mkdir(parents=True)
    (root / "salt" / "top.sls").write_text(top)
    (root / "salt" / "nginx" / "init.sls").write_text("{}\n")
    (root / "pillar" / "top.sls").write_text("base: {}\n")
    if schemas:
        (root / "schemas").mkdir()
        (root / "schemas" / "pillar.schema.json").write_text('{"type": "object"}\n')
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("not part of the state tree\n")
    return root


def test_the_state_tree_is_defined_once():
    from golden.core import provenance
    from golden.hotfix import git as hotfix_git

    assert provenance.STATE_TREE == ("salt", "pillar", "schemas")
    assert hotfix_bundle.TREES is provenance.STATE_TREE
    assert hotfix_git.STATE_PATHS is provenance.STATE_TREE


def test_the_bundle_carries_the_pillar_schema_with_salt_and_pillar(tmp_path):
    bundle = hotfix_bundle.build(make_tree(tmp_path / "src"), tmp_path / "out", commit="c1")
    assert sorted(bundle.manifest["files"]) == [
        "pillar/top.sls",
        "salt/nginx/init.sls",
        "salt/top.sls",
        "schemas/pillar.schema.json",
    ]
    hotfix_bundle.unpack(bundle.path, bundle.sha256, tmp_path / "dest")
    assert (tmp_path / "dest" / "schemas" / "pillar.schema.json").read_text() == (
        '{"type": "object"}\n'
    )
    assert not (tmp_path / "dest" / "docs").exists()


def test_a_tree_from_before_schemas_is_bundled_without_them(tmp_path):
    root = make_tree(tmp_path / "src", schemas=False)
    bundle = hotfix_bundle.build(root, tmp_path / "out", commit="old")
    assert not [name for name in bundle.manifest["files"] if name.startswith("schemas/")]
    hotfix_bundle.unpack(bundle.path, bundle.sha256, tmp_path / "dest")
    assert not (tmp_path / "dest" / "schemas").exists()


def test_the_same_tree_gives_the_same_bytes_and_sha(tmp_path):
    a = hotfix_bundle.build(make_tree(tmp_path / "a"), tmp_path / "out-a", commit="c1")
    b = hotfix_bundle.build(make_tree(tmp_path / "b"), tmp_path / "out-b", commit="c1")
    assert a.sha256 == b.sha256 and a.path.read_bytes() == b.path.read_bytes()
    c = hotfix_bundle.build(
        make_tree(tmp_path / "c", top="base: {'*': []}\n"), tmp_path / "out-c", commit="c1"
    )
    assert c.sha256 != a.sha256
    assert a.path.name == f"{a.sha256}.tar.gz"


def test_unpack_checks_sha_and_restores_the_trees(tmp_path):
    bundle = hotfix_bundle.build(make_tree(tmp_path / "src"), tmp_path / "out", commit="c1")
    manifest = hotfix_bundle.unpack(bundle.path, bundle.sha256, tmp_path / "dest")
    assert manifest["commit"] == "c1"
    assert (tmp_path / "dest" / "salt" / "nginx" / "init.sls").read_text() == "{}\n"
    with pytest.raises(ConfigError, match="expected 64 lowercase hex"):
        hotfix_bundle.unpack(bundle.path, "abc", tmp_path / "dest2")


def _tarball(path, entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    path.write_bytes(raw.getvalue())
    return hotfix_bundle.sha256_of(path)


@pytest.mark.parametrize(
    "entry",
    [
        ("../../etc/cron.d/x", b"x", "file"),
        ("/etc/passwd", b"x", "file"),
        ("salt/evil", b"", "sym"),
        ("schemas/evil", b"", "sym"),
        ("elsewhere/file", b"x", "file"),
        ("docs/index.md", b"x", "file"),
        ("schemas", b"x", "file"),
    ],
)
def test_unpack_refuses_entries_outside_the_trees_and_leaves_nothing(tmp_path, entry):
    path = tmp_path / "evil.tar.gz"
    sha = _tarball(path, [entry])
    with pytest.raises(ConfigError, match="refused entry"):
        hotfix_bundle.unpack(path, sha, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_unpack_refuses_files_that_differ_from_the_manifest(tmp_path):
    manifest = {
        "format": 1,
        "kind": hotfix_bundle.KIND,
        "commit": "c",
        "files": {"salt/top.sls": "0" * 64, "pillar/top.sls": "0" * 64},
    }
    path = tmp_path / "b.tar.gz"
    sha = _tarball(
        path,
        [
            ("manifest.json", json.dumps(manifest).encode(), "file"),
            ("salt/top.sls", b"base: {}\n", "file"),
            ("pillar/top.sls", b"base: {}\n", "file"),
        ],
    )
    with pytest.raises(ConfigError, match="differ from its manifest"):
        hotfix_bundle.unpack(path, sha, tmp_path / "dest")


def test_a_tree_without_top_files_cannot_be_bundled(tmp_path):
    root = make_tree(tmp_path / "src")
    (root / "pillar" / "top.sls").unlink()
    with pytest.raises(ConfigError, match="pillar/top.sls"):
        hotfix_bundle.build(root, tmp_path / "out", commit="c")


def _git(repo, *args):
    import subprocess

    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()  # fmt: skip


def test_git_exports_the_schemas_of_a_commit_and_none_from_before_them(tmp_path):
    from golden.hotfix import git as hotfix_git

    repo = make_tree(tmp_path / "repo", schemas=False)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "before schemas/")
    old = _git(repo, "rev-parse", "HEAD")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "docs only")
    same_trees = _git(repo, "rev-parse", "HEAD")
    (repo / "schemas").mkdir()
    (repo / "schemas" / "pillar.schema.json").write_text("{}\n")
    assert hotfix_git.dirty_paths(repo) == ["schemas/pillar.schema.json"]
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "schemas/")
    new = _git(repo, "rev-parse", "HEAD")

    hotfix_git.export(repo, new, tmp_path / "new")
    assert (tmp_path / "new" / "schemas" / "pillar.schema.json").read_text() == "{}\n"
    assert not (tmp_path / "new" / "docs").exists()
    hotfix_git.export(repo, old, tmp_path / "old")
    assert (tmp_path / "old" / "salt" / "top.sls").exists()
    assert not (tmp_path / "old" / "schemas").exists()
    # A tree absent from both commits is the same tree; present in one only, it is not.
    assert hotfix_git.same_state_tree(repo, old, same_trees) is True
    assert hotfix_git.same_state_tree(repo, old, new) is False


# -- the fleet's decisions ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, errors, ok",
    [
        ("1", False, True),
        ("25%", False, True),
        ("100%", False, True),
        ("0", False, False),
        ("0", True, True),
        ("0%", True, True),
        ("150%", False, False),
        ("two", True, False),
    ],
)
def test_rate_flags_follow_ssm_patterns(value, errors, ok):
    if ok:
        assert hotfix_plan.rate(value, "--max-errors", errors=errors) == value
    else:
        with pytest.raises(ConfigError, match="--max-errors"):
            hotfix_plan.rate(value, "--max-errors", errors=errors)


def test_the_instance_script_quotes_every_argument():
    script = hotfix_plan.shell_script(
        hotfix_plan.apply_argv("s3://b/k; rm -rf /", "a" * 64, test=True)
    )
    assert script[0] == "set -eu"
    assert "'s3://b/k; rm -rf /'" in script[1] and script[1].endswith("--test")


def test_only_in_service_instances_are_targeted():
    group = {
        "Instances": [
            {"InstanceId": "i-2", "LifecycleState": "InService"},
            {"InstanceId": "i-1", "LifecycleState": "InService"},
            {"InstanceId": "i-3", "LifecycleState": "Terminating"},
            {"InstanceId": "i-4", "LifecycleState": "Pending"},
        ]
    }
    assert hotfix_plan.in_service(group) == ["i-1", "i-2"]
    with pytest.raises(ConfigError, match="no InService"):
        hotfix_plan.check_fleet_size([], "g")


def test_probe_separates_ready_lacking_and_unreached_instances():
    ready, lacking, unreached = hotfix_plan.probe_verdicts(
        {
            "i-1": {"StatusDetails": "Success"},
            "i-2": {
                "StatusDetails": "Failed",
                "ResponseCode": 127,
                "StandardErrorContent": "sh: 2: exec: /opt/salt/bin/golden: not found",
            },
            "i-3": {"StatusDetails": "Undeliverable"},
            "i-4": {"Status": "InProgress", "StatusDetails": "In Progress"},
        }
    )
    assert ready == ["i-1"] and list(unreached) == ["i-3", "i-4"]
    assert "exit 127" in lacking["i-2"] and "not found" in lacking["i-2"]


def test_rows_carry_counts_from_the_record_or_say_why_there_is_none():
    ok = hotfix_plan.row(
        "i-1",
        {
            "StatusDetails": "Success",
            "StandardOutputContent": json.dumps(
                {
                    "schema": 1,
                    "mode": "apply",
                    "result": "success",
                    "states": {"changed": 3, "failed": 0},
                    "duration_s": 41.24,
                    "tree": {"bundle_sha256": "f" * 64},
                }
            ),
        },
    )
    assert (ok["changed"], ok["failed"], ok["duration"], ok["tree"]) == (3, 0, "41.2s", "f" * 12)
    cancelled = hotfix_plan.row("i-2", {"StatusDetails": "Cancelled"})
    assert "--max-errors" in cancelled["note"] and cancelled["changed"] == "-"
    assert hotfix_plan.verdict([ok]) == "ok"
    assert hotfix_plan.verdict([ok, cancelled]) == "failed"


def test_drift_verdict_needs_every_check_to_run_and_reports_drift():
    clean = {"status": "Success", "result": "success", "drifted": False}
    drifted = {**clean, "drifted": True}
    assert hotfix_plan.verdict([clean], drift=True) == "ok"
    assert hotfix_plan.verdict([clean, drifted], drift=True) == "drifted"
    assert hotfix_plan.verdict([drifted, {"status": "Failed"}], drift=True) == "failed"


def test_reminders_say_when_the_next_bake_would_not_carry_the_fix():
    kw = dict(
        ref="fix/nginx", commit="c" * 40, main_ref="main", ami="ami-1", bake_revision="d" * 40
    )
    none = hotfix_plan.bake_reminders(dirty=False, in_main=True, in_bake=True, **kw)
    assert none == []
    off_main = hotfix_plan.bake_reminders(dirty=False, in_main=False, in_bake=True, **kw)
    assert len(off_main) == 1 and "not on main" in off_main[0]
    old_ami = hotfix_plan.bake_reminders(dirty=False, in_main=True, in_bake=False, **kw)
    assert len(old_ami) == 1 and "ami-1" in old_ami[0]
    dirty = hotfix_plan.bake_reminders(dirty=True, in_main=None, in_bake=None, **kw)
    assert "uncommitted" in dirty[0]


def _apply_answer(record: dict) -> dict:
    return {"StatusDetails": "Success", "ResponseCode": 0,
            "StandardOutputContent": json.dumps(record)}  # fmt: skip


def test_a_record_of_another_tree_than_the_bundle_sent_is_a_failure():
    sent = "1" * 64
    applied = {"schema": 1, "mode": "apply", "result": "success", "states": {},
               "tree": {"bundle_sha256": sent}, "bundle": {"sha256": sent}}  # fmt: skip
    ok = hotfix_plan.row("i-1", _apply_answer(applied), sent_sha256=sent)
    assert ok["result"] == "success" and hotfix_plan.verdict([ok]) == "ok"
    for tree in ({"bundle_sha256": "2" * 64}, {"name": "baked", "bundle_sha256": None}, {}):
        other = hotfix_plan.row("i-1", _apply_answer({**applied, "tree": tree}), sent_sha256=sent)
        assert other["result"] == "failed" and hotfix_plan.verdict([other]) == "failed"
        assert other["note"].endswith(f"not the bundle sent ({'1' * 12})")
    # A test run leaves the tree alone: what it checked is the bundle it names.
    checked = {**applied, "mode": "test", "tree": {"name": "baked"}}
    assert hotfix_plan.row("i-1", _apply_answer(checked), sent_sha256=sent,
                           test=True)["result"] == "success"  # fmt: skip
    wrong = {**checked, "bundle": {"sha256": "3" * 64}}
    assert hotfix_plan.row("i-1", _apply_answer(wrong), sent_sha256=sent,
                           test=True)["result"] == "failed"  # fmt: skip
    # Nothing sent (revert, drift): nothing to compare.
    assert hotfix_plan.row("i-1", _apply_answer({**applied, "tree": {}}))["result"] == "success"


def test_one_run_command_names_at_most_fifty_instances():
    # SSM SendCommand, InstanceIds: "you can specify up to 50 IDs" (SSM API reference).
    ids = [f"i-{n:017x}" for n in range(51)]
    hotfix_plan.check_fleet_size(ids[:1], "g")
    hotfix_plan.check_fleet_size(ids[:50], "g")
    with pytest.raises(ConfigError, match="group g has 51 InService instances; one Run "
                       "Command names at most 50"):  # fmt: skip
        hotfix_plan.check_fleet_size(ids, "g")
