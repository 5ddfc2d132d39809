"""`golden infra destroy ENV`: delete the foundation stack, keeping the data stores unless
told otherwise.

What is kept: the template gives every data store a DeletionPolicy that keeps its data
(Database, Cache and ChromaDataVolume: a final snapshot; UploadsBucket: the bucket, as
it is). The artifacts bucket holds only bundles golden makes again; it is emptied so
CloudFormation can delete it. --delete-data first updates the stack to the same template
with those policies set to Delete, empties the uploads bucket, then deletes.

Refusals, before anything changes (PreflightError): a protected stack (the prod
environment, or DeletionProtection true) without the environment's name typed as
confirmation; the environment's Auto Scaling groups still exist (they run in the
stack's subnets with its security groups and profiles; CloudFormation could not delete
those). Deletion protection is switched off (a stack update) only after that
confirmation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from autoscaling import settings as env_settings
from autoscaling.aws import Clients
from golden.core.errors import OperationFailed, PreflightError
from golden.infra import changeset, stack
from golden.infra import template as tmpl
from golden.infra.run import stack_name

PROTECTED_ENVIRONMENTS = ("prod",)


@dataclass
class Request:
    env_arg: str
    yes: bool
    delete_data: bool
    confirm: str | None
    wait: stack.Wait
    report: Callable[[str], None]


def is_protected(env_name: str, parameters: dict[str, str]) -> bool:
    return env_name in PROTECTED_ENVIRONMENTS or parameters.get("DeletionProtection") == "true"


def decide(env_name: str, parameters: dict[str, str], confirm: str | None,
           groups: list[str], region: str) -> None:  # fmt: skip
    """Raise PreflightError when the stack may not be deleted now (pure)."""
    if is_protected(env_name, parameters) and confirm != env_name:
        raise PreflightError(
            f"the {env_name} foundation is protected (prod, or DeletionProtection true): type "
            f"the environment's name to delete it: --confirm {env_name}"
        )
    if groups:
        commands = "\n  ".join(
            f"aws autoscaling delete-auto-scaling-group --force-delete --region {region} "
            f"--auto-scaling-group-name {g}" for g in groups)  # fmt: skip
        raise PreflightError(
            f"the environment's Auto Scaling groups still run in the stack's subnets with its "
            f"security groups and profiles: {', '.join(groups)}. Delete them first "
            f"(golden env apply owns them):\n  {commands}"
        )


def kept(data_stores: dict[str, str], outputs: dict[str, str], delete_data: bool) -> list[str]:
    """What stays after the deletion, one line each (pure)."""
    if delete_data:
        return []
    out = []
    for lid, policy in sorted(data_stores.items()):
        if policy == "Snapshot":
            out.append(f"{lid}: a final snapshot (restore it into a new stack to get the data)")
        else:
            name = outputs.get(f"{lid}Name") or lid
            out.append(f"{lid}: {name} itself (DeletionPolicy {policy}); a new stack of the "
                       f"same name needs it removed or renamed first")  # fmt: skip
    return out


def _update_before_delete(clients: Clients, env_name: str, described: dict, body: str,
                          request: Request) -> None:  # fmt: skip
    """Run an update that switches deletion protection off and, with --delete-data, sets
    the data stores' DeletionPolicy to Delete (BODY)."""
    cfn = clients.cloudformation
    values = {p["ParameterKey"]: p.get("ParameterValue", "")
              for p in described.get("Parameters") or []}  # fmt: skip
    values["DeletionProtection"] = "false"
    name = "golden-destroy-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    made = stack.create_change_set(cfn, {
        "stack": described["StackId"], "name": name, "body": body, "parameters": values,
        "type": "UPDATE", "tags": {t["Key"]: t["Value"] for t in described.get("Tags") or []},
    })  # fmt: skip
    change_set = stack.wait_change_set(cfn, made["Id"], request.wait)
    if changeset.is_no_change(change_set):
        stack.discard(cfn, change_set, False)
        return
    request.report(f"updating {described['StackName']} first: deletion protection off"
                   + (", the data stores' DeletionPolicy Delete" if request.delete_data else ""))
    seen = stack.known_events(cfn, described["StackId"])
    stack.execute(cfn, change_set["ChangeSetId"])
    status, events = stack.wait_stack(cfn, described["StackId"], seen, request.wait,
                                      lambda _e: None)  # fmt: skip
    if status not in changeset.SUCCEEDED:
        raise OperationFailed(changeset.explain(described["StackName"], status,
                                                changeset.failed_events(events),
                                                clients.region, env_name))  # fmt: skip


def destroy(request: Request) -> dict:
    env = env_settings.load(request.env_arg)
    clients = Clients.for_env(env)
    name = stack_name(env)
    cfn = clients.cloudformation
    described = stack.describe(cfn, name)
    if described is None:
        return {"environment": env.name, "stack": name, "deleted": False, "kept": [],
                "note": "no such stack; nothing to delete"}  # fmt: skip
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "")
                  for p in described.get("Parameters") or []}  # fmt: skip
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs") or []}
    groups = stack.existing_groups(clients.autoscaling,
                                   [env.role(r).group for r in env.roles])  # fmt: skip
    decide(env.name, parameters, request.confirm, groups, env.region)
    body = cfn.get_template(StackName=described["StackId"])["TemplateBody"]
    # The stack's own template (boto3 gives a JSON template as a dict: then this checkout's).
    template = tmpl.parse(body) if isinstance(body, str) else tmpl.load()
    result = {"environment": env.name, "stack": name, "status": described["StackStatus"],
              "kept": kept(template.data_stores, outputs, request.delete_data),
              "emptied": [b for b in (outputs.get("ArtifactsBucketName"),
                                      outputs.get("UploadsBucketName") if request.delete_data
                                      else None) if b]}  # fmt: skip
    updatable = described["StackStatus"] in changeset.UPDATABLE
    if request.delete_data and not updatable and template.data_stores:
        # Only an update can switch the data stores' DeletionPolicy to Delete.
        raise PreflightError(
            f"stack {name} is {described['StackStatus']}: its data stores' DeletionPolicy "
            f"cannot be changed to Delete, so --delete-data cannot be honoured "
            f"({', '.join(sorted(template.data_stores))} would be kept); delete it without "
            f"--delete-data and remove them yourself, or bring the stack to an updatable state"
        )
    if not request.yes:
        result["deleted"] = False
        return result
    if updatable and (parameters.get("DeletionProtection") == "true" or request.delete_data):
        new_body = template.deleting_data() if request.delete_data else template.text
        _update_before_delete(clients, env.name, described, new_body, request)
        # What the deletion will keep is what the stack now holds, not what was asked.
        deployed = cfn.get_template(StackName=described["StackId"])["TemplateBody"]
        if isinstance(deployed, str):
            result["kept"] = kept(tmpl.parse(deployed).data_stores, outputs, False)
        if request.delete_data and result["kept"]:
            request.report("--delete-data: the stack still keeps " + "; ".join(result["kept"]))
    for bucket in result["emptied"]:
        count = stack.empty_bucket(clients.s3, bucket)
        request.report(f"emptied {bucket}: {count} object version(s) deleted")
    seen = stack.known_events(cfn, described["StackId"])
    request.report(f"deleting stack {name}")
    stack.delete_stack(cfn, described["StackId"])
    status, events = stack.wait_stack(cfn, described["StackId"], seen, request.wait,
                                      lambda e: request.report(
                                          f"  {e['LogicalResourceId']} {e['ResourceStatus']}"))
    if status != "DELETE_COMPLETE":
        raise OperationFailed(changeset.explain(name, status, changeset.failed_events(events),
                                                env.region, env.name))  # fmt: skip
    result["deleted"] = True
    return result
