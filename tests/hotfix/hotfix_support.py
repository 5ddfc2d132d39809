"""Helpers shared by the hotfix tests (a module of its own name: `from conftest import`
resolves to whichever conftest.py was imported last when several test folders run)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import yaml
from botocore.config import Config
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]


SALT_CALL = str(Path(sys.executable).with_name("salt-call"))


BUCKET = "golden-local-artifacts"


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=golden tests",
            "-c",
            "user.email=tests@golden.invalid",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def edit(repo: Path, relpath: str, old: str, new: str) -> None:
    path = repo / relpath
    text = path.read_text()
    assert old in text, f"{relpath} no longer holds {old!r}: update the test"
    path.write_text(text.replace(old, new, 1))


TOP = "base:\n  '*':\n    - demo\n"


DEMO = """\
demo-file-managed:
  file.managed:
    - name: {out}/demo.txt
    - contents: {{{{ pillar.get('demo', {{}}).get('value', 'none') }}}}
{{%- if pillar.get('demo', {{}}).get('fail') %}}

demo-check-fails:
  test.fail_without_changes:
    - name: the demo pillar asked for a failure
{{%- endif %}}
"""


def write_tree(
    root: Path, out: Path, value: str, *, fail: bool = False, broken: bool = False
) -> Path:
    """root/salt + root/pillar: a state managing out/demo.txt with ``value``."""
    (root / "salt").mkdir(parents=True)
    (root / "pillar").mkdir()
    (root / "salt" / "top.sls").write_text(TOP)
    demo = DEMO.format(out=out) + ("{{ undefined_macro() }}\n" if broken else "")
    (root / "salt" / "demo.sls").write_text(demo)
    (root / "pillar" / "top.sls").write_text(TOP)
    (root / "pillar" / "demo.sls").write_text(
        yaml.safe_dump({"demo": {"value": value, "fail": fail}})
    )
    return root


@dataclass
class SaltWorld:
    layout: object
    out: Path
    tmp: Path

    def bundle(self, value: str, **kw):
        from golden.hotfix import bundle as hotfix_bundle

        name = f"{value}-{len(list(self.tmp.glob('src-*')))}"
        src = write_tree(self.tmp / f"src-{name}", self.out, value, **kw)
        return hotfix_bundle.build(src, self.tmp / "bundles", commit=f"commit-{value}")

    def demo(self) -> str:
        return (self.out / "demo.txt").read_text().strip()

    def srv_tree(self) -> str:
        return (self.layout.srv / "pillar" / "demo.sls").read_text()


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


@dataclass
class Fleet:
    """A seeded emulator with the app group running four instances, its settings file, a
    bucket for bundles and a git repository to bundle from."""

    emulator: object
    settings: Path
    repo: Path | None = None
    first_command: int = 0
    # sha256 of the bundle `golden hotfix` builds from the repository's HEAD.
    sha: str = ""

    def client(self, service: str):
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=self.emulator.url,
            config=Config(retries={"max_attempts": 1}),
        )

    def golden(self, *args) -> Result:
        from golden.cli import main

        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    def hotfix(self, *args) -> Result:
        return self.golden(
            "hotfix", self.settings, "--repo", self.repo, "--poll-seconds", "0.001", *args
        )

    def drift(self, *args) -> Result:
        return self.golden("drift", self.settings, "--poll-seconds", "0.001", *args)

    def instances(self) -> list[str]:
        group = self.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=["golden-local-app"]
        )["AutoScalingGroups"][0]
        return sorted(i["InstanceId"] for i in group["Instances"])

    def tags(self, instance_id: str) -> dict[str, str]:
        found = self.client("ec2").describe_tags(
            Filters=[{"Name": "resource-id", "Values": [instance_id]}]
        )["Tags"]
        return {t["Key"]: t["Value"] for t in found}

    def commands(self) -> list[dict]:
        """This test's Run Commands, oldest first, with their timelines."""
        return self.emulator.ssm_state()["commands"][self.first_command :]

    def mutating(self) -> list[dict]:
        return self.emulator.mutating_requests()

    def bundle_sha(self, ref: str = "HEAD", *, allow_dirty: bool = False) -> str:
        """The sha256 of the bundle `golden hotfix --ref REF` sends (built the same way)."""
        import tempfile

        from golden.hotfix import run

        req = run.Request(env=str(self.settings), ref=ref, repo=self.repo,
                          allow_dirty=allow_dirty)  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            return run.build_bundle(req, Path(tmp)).bundle.sha256

    def answer_with(self, sha: str) -> None:
        """Every instance answers an apply of bundle ``sha`` with a record of that tree:
        what an instance that applied the bundle it was sent reports."""
        for instance_id in self.instances():
            self.emulator.ssm_outcome(
                instance_id, stdout=record(sha=sha), match="instance hotfix --bundle"
            )

    def fresh(self, repo: Path) -> Fleet:
        """Forget what an earlier test left: outcomes, bundles, hotfix tags, requests."""
        self.repo = repo
        self.sha = self.bundle_sha()
        self.emulator.ssm_clear_outcomes()
        s3 = self.client("s3")
        for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])
        ids = self.instances()
        ec2 = self.client("ec2")
        for instance_id in ids:
            stale = [{"Key": k} for k in self.tags(instance_id) if k.startswith("golden:hotfix")]
            if stale:
                ec2.delete_tags(Resources=[instance_id], Tags=stale)
            # Healthy instances by default: each answers with a record of the tree it was
            # sent (HEAD's bundle; answer_with() for another ref).
            self.emulator.ssm_outcome(
                instance_id, stdout=record(sha=self.sha), match="instance hotfix --bundle"
            )
            self.emulator.ssm_outcome(instance_id, stdout=record("revert"), match="--revert")
            self.emulator.ssm_outcome(
                instance_id, stdout=record("drift", drifted=False), match="instance drift"
            )
        self.first_command = len(self.emulator.ssm_state()["commands"])
        self.emulator.clear_requests()
        return self


def write_settings(path: Path, url: str, *, bucket: str | None = BUCKET, desired: int = 4):
    from autoscaling.settings import ENV_DIR

    data = yaml.safe_load((ENV_DIR / "local.yaml").read_text())
    data["aws"]["endpoint_url"] = url
    data["instance"]["aws_endpoint_url"] = url
    if bucket:
        data["artifacts_bucket"] = bucket
    else:
        data.pop("artifacts_bucket", None)
    data["roles"]["app"]["capacity"] = {"min": 1, "max": 6, "desired": desired}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def record(
    mode: str = "apply", *, changed=(), failed=(), sha: str = "a" * 64, drifted: bool | None = None
) -> str:
    """What `golden instance hotfix|drift --json` prints: the line an instance answers."""
    data = {
        "schema": 1,
        "mode": mode,
        "host": "ip-10-0-0-1",
        "duration_s": 12.5,
        "states": {
            "total": 120,
            "changed": len(changed),
            "failed": len(failed),
            "unchanged": 120 - len(changed) - len(failed),
        },
        "changed": [{"id": s, "function": "file.managed"} for s in changed],
        "failed": [{"id": s, "function": "cmd.run", "comment": "exit 1"} for s in failed],
        "errors": [],
        "tree": {"name": sha[:16], "bundle_sha256": sha},
        "result": "failed" if failed else "success",
    }
    if mode in ("apply", "test"):
        data["bundle"] = {"sha256": sha, "commit": "c" * 40, "source": "s3://bucket/key"}
    if mode == "test":
        # A test run checks the bundle against the tree in place, which it leaves alone.
        data["tree"] = {"name": "baked", "source": "baked", "bundle_sha256": None}
    if drifted is not None:
        data["drifted"] = drifted
    return json.dumps(data)
