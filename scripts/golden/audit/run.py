"""`golden audit`: build the tool bundle, run the audit on the twin or on an instance,
read what came back, run gixy here on the host's nginx configuration, and make the
table. The decisions are in reports.py; the ways in are twin.py and ssm.py."""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from golden.audit import bundle as tools
from golden.audit import gixy, remote, reports, twin
from golden.core.errors import ConfigError, OperationFailed
from golden.core.shell import eprint


@dataclass(frozen=True)
class Request:
    env: str = "local"
    role: str = "app"
    twin: str = "golden-local-app"
    instance: str | None = None
    ssh_port: int = 22
    targets: reports.Targets = reports.Targets()
    timeout_minutes: float = 20
    poll_seconds: float = 5


def result(target: dict, stdout: str, targets: reports.Targets) -> dict:
    """The audit's result from the script's output: each tool's summary, the table, the
    details and the checks that missed their target."""
    found = reports.sections(stdout)
    dump = found.get("nginx")
    summary = reports.summarize(found, gixy.run(dump) if dump else None)
    table = reports.rows(summary, targets)
    missed = reports.missed(table)
    return {"target": target, "summary": summary, "rows": table,
            "details": reports.details(summary), "missed": missed, "ok": not missed}


def audit_twin(req: Request) -> dict:
    twin.check_running(req.twin)
    with tempfile.TemporaryDirectory(prefix="golden-audit-") as tmp:
        built = tools.build(Path(tmp))
        eprint(f"auditing twin {req.twin}: lynis, ssh-audit, nginx configuration, headers "
               f"(tool bundle {built.sha256[:12]}, {built.size // 1024} KiB; takes minutes)")
        stdout = twin.audit(req.twin, built, ssh_port=req.ssh_port,
                            timeout=req.timeout_minutes * 60)
    left = twin.leftovers(req.twin)
    if left:
        raise OperationFailed(f"the audit left files in {req.twin}: {', '.join(left)}")
    return result({"kind": "twin", "name": req.twin}, stdout, req.targets)


def audit_instance(req: Request) -> dict:
    from autoscaling import settings
    from autoscaling.aws import Clients
    from golden.audit import ssm

    env = settings.load(req.env)
    role = env.role(req.role)
    bucket = env.raw.get("artifacts_bucket")
    if not bucket:
        raise ConfigError(f"{env.path}: artifacts_bucket: missing (the audit's tool bundle "
                          "goes there)")
    clients = Clients(env.region, env.endpoint_url)
    instance = ssm.pick_instance(ssm.group(clients, role.group), req.instance)
    with tempfile.TemporaryDirectory(prefix="golden-audit-") as tmp:
        built = tools.build(Path(tmp))
        url = ssm.upload(clients, bucket, built)
    work = remote.WORK_PREFIX + secrets.token_hex(6)
    eprint(f"auditing {instance} of {role.group} over SSM (takes minutes)")
    reply = ssm.run(clients, instance,
                    remote.script(work, built.sha256, url=url, ssh_port=req.ssh_port),
                    timeout=req.timeout_minutes * 60, poll=req.poll_seconds)  # fmt: skip
    if reply.get("Status") != "Success":
        raise OperationFailed(
            f"golden audit on {instance}: {reply.get('StatusDetails') or reply.get('Status')} "
            f"(exit {reply.get('ResponseCode')}): "
            f"{(reply.get('StandardErrorContent') or '').strip()[-800:]}")
    target = {"kind": "instance", "environment": env.name, "group": role.group,
              "instance": instance}  # fmt: skip
    return result(target, reply.get("StandardOutputContent") or "", req.targets)


def audit(req: Request) -> dict:
    """Audit the twin (ENV `local`) or one instance of ENV's ROLE group."""
    if req.env == "local":
        return audit_twin(req)
    return audit_instance(req)
