"""The machine-readable parser, on lines recorded from real Packer 1.6.6."""

from __future__ import annotations

from golden.bake import stream as ps

from .conftest import HERE

TRANSCRIPTS = HERE / "transcripts"


def _lines(name: str) -> list[str]:
    return (TRANSCRIPTS / f"{name}.txt").read_text().splitlines()


def test_commas_and_newlines_are_unescaped_in_ui_text():
    event = ps.parse_line(
        "1795674283,,ui,error,==> golden.docker.twin: a%!(PACKER_COMMA) b\\n==> c: d"
    )
    assert event == ps.Ui(kind="error", text="==> golden.docker.twin: a, b\n==> c: d",
                          timestamp=1795674283)  # fmt: skip


def test_artifact_and_count_lines_become_events():
    assert ps.parse_line("17,golden.docker.twin,artifact,0,id,sha256:ab") == ps.Artifact(
        "golden.docker.twin", 0, "id", "sha256:ab", timestamp=17
    )
    assert ps.parse_line("17,golden.docker.twin,artifact-count,2") == ps.ArtifactCount(
        "golden.docker.twin", 2, timestamp=17
    )
    event = ps.parse_line("17,golden.docker.twin,error,Script exited%!(PACKER_COMMA) 2")
    assert event == ps.BuildError("golden.docker.twin", "Script exited, 2", timestamp=17)


def test_lines_that_are_not_machine_readable_are_kept_as_text():
    assert ps.parse_line("panic: runtime error") == ps.Unparsed("panic: runtime error")


def test_ui_text_splits_into_source_step_and_output():
    assert ps.split_ui("==> golden.docker.twin: Committing the container") == (
        "golden.docker.twin", "Committing the container", True)  # fmt: skip
    assert ps.split_ui("    golden.docker.twin:       Result: True") == (
        "golden.docker.twin", "      Result: True", False)  # fmt: skip
    assert ps.split_ui("Cleanly cancelled builds") == (None, "Cleanly cancelled builds", False)


def test_amazon_artifact_id_maps_regions_to_amis():
    value = "us-east-1:ami-0123456789abcdef0,eu-central-1:ami-0fedcba9876543210"
    assert ps.parse_amazon_artifact_id(value) == {
        "us-east-1": "ami-0123456789abcdef0",
        "eu-central-1": "ami-0fedcba9876543210",
    }


def test_success_transcript_yields_one_image_and_the_test_summary():
    summary = ps.summarize(_lines("success"))
    ids = summary.artifact_ids("golden.docker.twin")
    assert len(ids) == 1 and ids[0].startswith("sha256:")
    assert summary.artifact_counts == {"golden.docker.twin": 2}
    assert summary.tests == {"passed": 12, "failed": 0, "skipped": 1}
    assert summary.failing_step is None and not summary.build_errors
    assert summary.last_step() == "Running post-processor:  (type manifest)"


def test_provisioner_failure_names_the_failing_step_not_the_cleanup():
    summary = ps.summarize(_lines("provisioner-failure"))
    assert summary.failing_step.startswith("Provisioning with shell script")
    assert summary.last_step().startswith("Killing the container")
    assert "non-zero exit status: 2" in summary.build_errors["golden.docker.twin"]
    assert any("highstate failed (2 states), see above" in line for line in summary.output_tail)
    assert summary.artifact_ids("golden.docker.twin") == []
    assert summary.failed_states() == [ps.FailedState(
        "nginx-service-running", "service.running",
        "Job for nginx.service failed because the control process exited with error code.",
    )]  # fmt: skip


def _salt_lines(text: str) -> list[str]:
    return [f"{n},,ui,message,    golden.docker.twin: {line}"
            for n, line in enumerate(text.splitlines(), start=1)]  # fmt: skip


def test_failed_salt_states_keep_their_multi_line_comments_and_skip_the_ones_that_passed():
    output = """\
----------
          ID: hardening-auditd-installed
    Function: pkg.installed
        Name: auditd
      Result: False
     Comment: Problem encountered installing package(s).
              E: Failed to fetch http://deb.debian.org/debian/pool/auditd.deb
              E: Unable to fetch some archives
     Started: 17:46:40.101
    Duration: 2100.3 ms
     Changes:
----------
          ID: docker-service-running
    Function: service.running
      Result: True
     Comment: Service restarted
----------
          ID: hardening-audit-rules-managed
    Function: file.managed
      Result: False
     Comment: One or more requisite failed: hardening.hardening-auditd-installed
Summary for local
-------------
Succeeded: 114 (changed=109)
Failed:      2"""
    failed = ps.summarize(_salt_lines(output)).failed_states()
    assert [(state.id, state.function) for state in failed] == [
        ("hardening-auditd-installed", "pkg.installed"),
        ("hardening-audit-rules-managed", "file.managed"),
    ]
    assert failed[0].comment == (
        "Problem encountered installing package(s). E: Failed to fetch "
        "http://deb.debian.org/debian/pool/auditd.deb E: Unable to fetch some archives"
    )
    # The last comment is closed by the summary's keyless lines, not swallowed by them.
    assert failed[1].comment.startswith("One or more requisite failed")
    assert "Succeeded" not in failed[1].comment


def test_interrupt_transcript_is_recognised_as_interrupted():
    summary = ps.summarize(_lines("interrupt"))
    assert summary.interrupted
    assert summary.tests is None
    assert summary.artifact_ids("golden.docker.twin") == []


def test_the_provision_scripts_own_steps_refine_the_failing_step():
    lines = [
        "1,,ui,say,==> golden.docker.twin: Provisioning with shell script: /tmp/x",
        "2,,ui,message,    golden.docker.twin: ==> golden-provision [3s] highstate (role=app)",
        "3,,ui,say,==> golden.docker.twin: Provisioning step had errors: Running the cleanup",
    ]
    assert ps.summarize(lines).failing_step == "golden-provision [3s] highstate (role=app)"


def test_test_summary_takes_the_last_summary_line():
    text = (
        "golden-provision: tests passed=3 failed=0 skipped=0\n"
        "golden-provision: tests passed=9 failed=1 skipped=2"
    )
    assert ps.parse_test_summary(text) == {"passed": 9, "failed": 1, "skipped": 2}
    assert ps.parse_test_summary("no summary here") is None
