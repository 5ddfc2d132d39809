"""`golden status ENV`: per role, the group, its launch template and each instance."""

from __future__ import annotations

from autoscaling import awsstate, preflight
from autoscaling.aws import Clients
from autoscaling.fleet import instance_rows
from autoscaling.settings import Environment


def status(env: Environment, clients: Clients, roles: list[str] | None = None) -> dict:
    out = {"environment": env.name, "region": env.region, "roles": []}
    for name in roles or env.roles:
        role = env.role(name)
        group = awsstate.group(clients.autoscaling, role.group)
        template = awsstate.launch_template(clients.ec2, role.template)
        entry = {
            "role": name,
            "group": role.group,
            "exists": group is not None,
            "launch_template": role.template,
            "default_version": (template or {}).get("DefaultVersionNumber"),
            "latest_version": (template or {}).get("LatestVersionNumber"),
        }
        if group is not None:
            spec = group.get("LaunchTemplate") or {}
            entry.update(
                {
                    "group_version": spec.get("Version"),
                    "capacity": {
                        "min": group.get("MinSize"),
                        "max": group.get("MaxSize"),
                        "desired": group.get("DesiredCapacity"),
                    },
                    "instances": instance_rows(clients, role),
                }
            )
            items = awsstate.refreshes(clients.autoscaling, role.group)
            active = preflight.active_refresh(items)
            last = active or (items[0] if items else None)
            entry["refresh_in_flight"] = bool(active)
            entry["last_refresh"] = (
                None
                if last is None
                else {
                    "id": last["InstanceRefreshId"],
                    "status": last.get("Status"),
                    "percentage": last.get("PercentageComplete"),
                    "instances_to_update": last.get("InstancesToUpdate"),
                    "reason": last.get("StatusReason"),
                    "desired_version": preflight.desired_version(last),
                }
            )
        out["roles"].append(entry)
    return out
