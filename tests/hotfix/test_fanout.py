"""`golden hotfix ENV` and `golden drift ENV` over SSM Run Command, against the AWS
emulator over HTTP. Instances run nothing there: each answers what the test told the
emulator (see conftest), so these tests are about the fan-out: targets, rate control,
the error limit, per-instance results, tags, uploads, and refusing bad input before
anything is uploaded or sent."""

from __future__ import annotations

from hotfix_support import BUCKET, commit_all, edit, git, record, write_settings

PROBE = "instance hotfix --status"
APPLY = "instance hotfix --bundle"


def uploads(fleet) -> list[dict]:
    return [r for r in fleet.mutating() if r["action"].startswith("PUT /")]


def sent_commands(fleet) -> list[str]:
    return ["\n".join(c["Parameters"]["commands"]) for c in fleet.commands()]


def test_hotfix_runs_on_every_in_service_instance_one_at_a_time(fleet):
    ids = fleet.instances()
    for n, instance_id in enumerate(ids):
        fleet.emulator.ssm_outcome(
            instance_id, stdout=record(changed=["s"] * n, sha=fleet.sha), match=APPLY
        )
    result = fleet.hotfix("--json")
    assert result.exit_code == 0, result.stderr
    out = result.json()
    sha = out["bundle"]["sha256"]
    assert [r["instance"] for r in out["rows"]] == ids
    assert [r["changed"] for r in out["rows"]] == [0, 1, 2, 3]
    assert all(r["status"] == "Success" and r["failed"] == 0 for r in out["rows"])
    probe, apply = fleet.commands()
    assert PROBE in "\n".join(probe["Parameters"]["commands"])
    assert sha in "\n".join(apply["Parameters"]["commands"])
    assert apply["MaxConcurrency"] == "1" and apply["max_in_progress"] == 1
    assert sorted(i["InstanceId"] for i in apply["invocations"]) == ids
    keys = [o["Key"] for o in fleet.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"golden/hotfix/{sha}.tar.gz"]
    assert sha == fleet.sha
    assert all(fleet.tags(i)["golden:hotfix-sha256"] == sha for i in ids)


def test_an_instance_reporting_another_tree_than_the_bundle_sent_has_failed(fleet):
    ids = fleet.instances()
    # e.g. an instance whose hotfix command ignored --bundle and re-applied what it had.
    fleet.emulator.ssm_outcome(ids[2], stdout=record(sha="b" * 64), match=APPLY)
    result = fleet.hotfix("--max-errors", "100%", "--json")
    assert result.exit_code == 4
    rows = {r["instance"]: r for r in result.json()["rows"]}
    assert rows[ids[2]]["result"] == "failed"
    assert f"reported tree {'b' * 12}" in rows[ids[2]]["note"]
    assert f"not the bundle sent ({fleet.sha[:12]})" in rows[ids[2]]["note"]
    assert f"hotfix failed on 1 instance(s): {ids[2]}" in result.stderr
    assert "golden:hotfix-sha256" not in fleet.tags(ids[2])
    assert fleet.tags(ids[2])["golden:hotfix-failed-sha256"] == fleet.sha
    assert all(fleet.tags(i)["golden:hotfix-sha256"] == fleet.sha for i in ids if i != ids[2])


def test_a_test_run_that_checked_another_bundle_has_failed(fleet):
    ids = fleet.instances()
    fleet.emulator.ssm_outcome(ids[0], stdout=record("test", sha="c" * 64), match=APPLY)
    for other in ids[1:]:
        fleet.emulator.ssm_outcome(other, stdout=record("test", sha=fleet.sha), match=APPLY)
    result = fleet.hotfix("--test", "--max-errors", "100%", "--json")
    assert result.exit_code == 4
    rows = {r["instance"]: r for r in result.json()["rows"]}
    assert rows[ids[0]]["result"] == "failed" and f"{'c' * 12}" in rows[ids[0]]["note"]
    assert [rows[i]["result"] for i in ids[1:]] == ["success"] * 3


def test_more_instances_than_one_run_command_names_are_refused_before_anything_is_sent(
    fleet, monkeypatch
):
    from golden.hotfix import plan as hotfix_plan

    monkeypatch.setattr(hotfix_plan, "MAX_INSTANCE_IDS", len(fleet.instances()) - 1)
    for result in (fleet.hotfix(), fleet.drift()):
        assert result.exit_code == 2
        assert "4 InService instances; one Run Command names at most 3" in result.stderr
    assert fleet.mutating() == [] and fleet.commands() == []


def test_a_percentage_concurrency_runs_that_share_of_the_group_at_once(fleet):
    result = fleet.hotfix("--max-concurrency", "50%", "--json")
    assert result.exit_code == 0, result.stderr
    apply = fleet.commands()[-1]
    assert apply["MaxConcurrency"] == "50%" and apply["max_in_progress"] == 2


def test_the_fan_out_stops_after_max_errors_and_names_what_did_not_run(fleet):
    ids = fleet.instances()
    fleet.emulator.ssm_outcome(
        ids[1],
        "Failed",
        response_code=4,
        match=APPLY,
        stdout=record(failed=["nginx-config-valid"], sha=fleet.sha),
    )
    result = fleet.hotfix("--json")
    assert result.exit_code == 4
    rows = {r["instance"]: r for r in result.json()["rows"]}
    assert rows[ids[0]]["status"] == "Success"
    assert rows[ids[1]]["status"] == "Failed" and "nginx-config-valid" in rows[ids[1]]["note"]
    assert [rows[i]["status"] for i in ids[2:]] == ["Cancelled", "Cancelled"]
    apply = fleet.commands()[-1]
    assert [i["started_step"] for i in apply["invocations"][2:]] == [None, None]
    assert "golden:hotfix-sha256" in fleet.tags(ids[0])
    assert "golden:hotfix-sha256" not in fleet.tags(ids[1])
    assert "golden:hotfix-failed-sha256" in fleet.tags(ids[1])
    assert "hotfix failed on 3 instance(s)" in result.stderr


def test_max_errors_lets_the_rest_run_and_the_exit_is_still_non_zero(fleet):
    ids = fleet.instances()
    fleet.emulator.ssm_outcome(
        ids[0],
        "Failed",
        response_code=4,
        match=APPLY,
        stdout=record(failed=["app-replicas-rolled-on-config-change"], sha=fleet.sha),
    )
    result = fleet.hotfix("--max-errors", "1", "--json")
    assert result.exit_code == 4
    statuses = [r["status"] for r in result.json()["rows"]]
    assert statuses == ["Failed", "Success", "Success", "Success"]


def test_an_undeliverable_instance_is_reported_as_such(fleet):
    ids = fleet.instances()
    fleet.emulator.ssm_outcome(ids[2], "Undeliverable", match=APPLY)
    result = fleet.hotfix()
    assert result.exit_code == 4
    line = next(line for line in result.stdout.splitlines() if ids[2] in line)
    assert "Undeliverable" in line
    # Undeliverable is not an error against MaxErrors (0): the others all ran.
    statuses = {i["InstanceId"]: i["StatusDetails"] for i in fleet.commands()[-1]["invocations"]}
    assert [statuses[i] for i in ids] == ["Success", "Success", "Undeliverable", "Success"]


def test_only_the_groups_instances_are_targeted(fleet):
    outsider = fleet.client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]
    result = fleet.hotfix("--json")
    assert result.exit_code == 0, result.stderr
    for command in fleet.commands():
        assert outsider not in [i["InstanceId"] for i in command["invocations"]]


def test_a_second_run_with_the_same_ref_reuses_the_uploaded_bundle(fleet):
    assert fleet.hotfix().exit_code == 0
    first = len(uploads(fleet))
    result = fleet.hotfix()
    assert result.exit_code == 0 and len(uploads(fleet)) == first == 1
    assert "already holds this bundle" in result.stderr


def test_test_mode_sends_test_and_tags_nothing(fleet):
    result = fleet.hotfix("--test", "--json")
    assert result.exit_code == 0, result.stderr
    assert sent_commands(fleet)[-1].endswith("--test")
    assert not any(k.startswith("golden:hotfix") for k in fleet.tags(fleet.instances()[0]))


def test_dry_run_reads_but_uploads_and_sends_nothing(fleet):
    result = fleet.hotfix("--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["instances"] == fleet.instances()
    assert fleet.mutating() == [] and fleet.commands() == []


# -- bad input: clear errors, nothing uploaded or sent --------------------------------------------
def test_an_unknown_ref_is_refused_before_any_aws_call(fleet):
    result = fleet.hotfix("--ref", "no-such-branch")
    assert result.exit_code == 2 and "--ref: 'no-such-branch' is not a commit" in result.stderr
    assert fleet.emulator.requests() == []


def test_a_dirty_state_tree_is_refused_unless_allowed(fleet):
    edit(fleet.repo, "pillar/roles/app.sls", "hsts: true", "hsts: false")
    result = fleet.hotfix()
    assert result.exit_code == 2 and "pillar/roles/app.sls" in result.stderr
    assert "--allow-dirty" in result.stderr and fleet.emulator.requests() == []
    fleet.answer_with(fleet.bundle_sha(allow_dirty=True))
    allowed = fleet.hotfix("--allow-dirty", "--json")
    assert allowed.exit_code == 0, allowed.stderr
    assert allowed.json()["bundle"]["commit"].endswith("-dirty")
    assert any("uncommitted" in note for note in allowed.json()["reminders"])


def test_missing_bucket_setting_or_bucket_is_refused_before_anything_is_sent(fleet, tmp_path):
    no_setting = write_settings(tmp_path / "nobucket.yaml", fleet.emulator.url, bucket=None)
    result = fleet.golden("hotfix", no_setting, "--repo", fleet.repo)
    assert result.exit_code == 2 and "artifacts_bucket: missing" in result.stderr
    absent = write_settings(tmp_path / "absent.yaml", fleet.emulator.url, bucket="not-made")
    result = fleet.golden("hotfix", absent, "--repo", fleet.repo)
    assert result.exit_code == 2 and "bucket 'not-made' does not exist" in result.stderr
    assert fleet.mutating() == [] and fleet.commands() == []


def test_an_instance_without_the_hotfix_command_stops_everything_before_upload(fleet):
    ids = fleet.instances()
    for match in (PROBE, APPLY):
        fleet.emulator.ssm_outcome(
            ids[3],
            "Failed",
            response_code=127,
            match=match,
            stderr="sh: 2: exec: /opt/salt/bin/golden: not found",
        )
    result = fleet.hotfix()
    assert result.exit_code == 3
    assert ids[3] in result.stderr and "not found" in result.stderr
    assert "nothing was uploaded or sent" in result.stderr
    assert uploads(fleet) == []
    # Only the read-only probe went out.
    assert len(sent_commands(fleet)) == 1 and PROBE in sent_commands(fleet)[0]


def test_bad_rate_flags_are_refused_naming_the_flag(fleet):
    result = fleet.hotfix("--max-concurrency", "0")
    assert result.exit_code == 2 and "--max-concurrency" in result.stderr
    assert fleet.emulator.requests() == []


# -- reminders -------------------------------------------------------------------------------------
def test_a_ref_off_main_reminds_that_the_next_bake_lacks_it(fleet):
    git(fleet.repo, "checkout", "-q", "-b", "fix/hsts")
    edit(fleet.repo, "pillar/roles/app.sls", "hsts: true", "hsts: false")
    commit_all(fleet.repo, "hsts off")
    fleet.answer_with(fleet.bundle_sha("fix/hsts"))
    result = fleet.hotfix("--ref", "fix/hsts")
    assert result.exit_code == 0, result.stderr
    assert "reminder: fix/hsts" in result.stderr and "not on main" in result.stderr


def test_no_reminder_when_main_and_the_launched_image_carry_the_ref(fleet):
    main = git(fleet.repo, "rev-parse", "main")
    ec2 = fleet.client("ec2")
    for image in ec2.describe_images(Owners=["self"])["Images"]:
        ec2.create_tags(
            Resources=[image["ImageId"]],
            Tags=[{"Key": "golden:state-tree-revision", "Value": main}],
        )
    result = fleet.hotfix("--ref", "main")
    assert result.exit_code == 0, result.stderr
    assert "reminder:" not in result.stderr


# -- drift ----------------------------------------------------------------------------------
def test_drift_reports_per_instance_states_and_exits_one_when_any_drifted(fleet):
    ids = fleet.instances()
    fleet.emulator.ssm_outcome(
        ids[1],
        stdout=record(
            "drift", changed=["nginx-site-config-managed", "nginx-service-running"], drifted=True
        ),
        match="instance drift",
    )
    result = fleet.drift("--json")
    assert result.exit_code == 1
    rows = {r["instance"]: r for r in result.json()["rows"]}
    assert rows[ids[1]]["drifted"] is True
    assert rows[ids[1]]["states"] == "nginx-site-config-managed, nginx-service-running"
    assert [rows[i]["drifted"] for i in ids if i != ids[1]] == [False] * 3
    assert uploads(fleet) == []
    assert "instance drift --json" in sent_commands(fleet)[0]


def test_no_drift_exits_zero(fleet):
    result = fleet.drift()
    assert result.exit_code == 0, result.stderr


def test_drift_that_could_not_run_is_an_error_not_a_clean_bill(fleet):
    ids = fleet.instances()
    fleet.emulator.ssm_outcome(
        ids[0],
        "Failed",
        response_code=127,
        stderr="/opt/salt/bin/golden: not found",
        match="instance drift",
    )
    result = fleet.drift()
    assert result.exit_code == 4 and ids[0] in result.stderr
