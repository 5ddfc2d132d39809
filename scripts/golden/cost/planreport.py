"""The monthly cost delta under `golden env plan` (and `apply`), with the budget warning.

`golden env plan` reads what AWS has for each role (group capacity, the launch-template
version the group runs) and what the settings want. The environment is priced twice
with everything else equal (foundation, usage, prices, agent config): once with the roles
as AWS has them, once as they will be after `golden env apply`, which sets min and max
and only clamps the desired capacity into them (the scaling policy owns it). A role with
no group yet costs nothing before."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from golden.cost import estimate, prices, run
from golden.cost.model import EnvironmentSpec, RoleSpec, Volume, money


def role_in_aws(
    settings_role: RoleSpec, group: dict | None, version: dict | None
) -> RoleSpec | None:
    """SETTINGS_ROLE as AWS runs it now: the group's capacity, the instance type and root
    volume of the launch-template version it uses (the settings' where AWS says nothing);
    None when the group does not exist."""
    if group is None:
        return None
    data = (version or {}).get("LaunchTemplateData") or {}
    root = settings_role.root
    for mapping in data.get("BlockDeviceMappings") or ():
        ebs = mapping.get("Ebs") or {}
        if ebs.get("VolumeSize"):
            root = Volume(int(ebs["VolumeSize"]), int(ebs.get("Iops") or 3000),
                          int(ebs.get("Throughput") or 125))  # fmt: skip
            break
    return replace(
        settings_role, instance_type=data.get("InstanceType") or settings_role.instance_type,
        desired=int(group.get("DesiredCapacity", 0)), minimum=int(group.get("MinSize", 0)),
        maximum=int(group.get("MaxSize", 0)), root=root,
    )  # fmt: skip


def role_after_apply(settings_role: RoleSpec, group: dict | None) -> RoleSpec:
    """SETTINGS_ROLE after `golden env apply`: a new group starts at the settings' desired
    capacity; an existing one keeps its own, clamped into the new min..max."""
    if group is None:
        return settings_role
    have = int(group.get("DesiredCapacity", 0))
    return replace(settings_role, desired=min(max(have, settings_role.minimum),
                                              settings_role.maximum))  # fmt: skip


def before_and_after(
    env: EnvironmentSpec, current: dict
) -> tuple[EnvironmentSpec, EnvironmentSpec]:
    """ENV now and after the plan. CURRENT: role name -> (group, version) for the roles
    the plan read; other roles are taken as the settings say on both sides."""
    before, after = env, env
    for name, (group, version) in current.items():
        want = env.role(name)
        if want is None:
            continue
        now = role_in_aws(want, group, version)
        before = before.with_role(now) if now else before.without_role(name)
        after = after.with_role(role_after_apply(want, group))
    return before, after


def delta_report(inputs: estimate.Inputs, before_env: EnvironmentSpec,
                 after_env: EnvironmentSpec) -> tuple[list[str], dict]:  # fmt: skip
    """Lines for the plan's output and the JSON data: the month now, after, the delta and
    the budget warning."""
    now = estimate.estimate(replace(inputs, env=before_env)).total
    then = estimate.estimate(replace(inputs, env=after_env)).total
    budget = inputs.env.budget_usd
    change = then - now
    warning = estimate.crossing(now, then, budget)
    lines = [
        f"cost: {inputs.env.name}: {money(now)} a month now -> {money(then)} after this plan "
        f"({'+' if change >= 0 else '-'}{money(abs(change))}); "
        f"{estimate.budget_text(then, budget)} (golden cost {inputs.env.name} for the lines)"
    ]
    if warning:
        lines.append(f"warning: {warning}")
    data = {"before_usd": round(now, 2), "after_usd": round(then, 2),
            "delta_usd": round(change, 2), "budget": estimate.budget_status(then, budget),
            "warning": warning}  # fmt: skip
    return lines, data


def env_plan_report(environment, clients, plans) -> tuple[list[str], dict]:
    """The report `golden env plan` prints under the plan (registered with the release
    engine's PLAN_REPORTS by golden.cost.commands). PLANS carry what AWS has per role."""
    del clients  # everything needed was read by the plan
    inputs, _ = run.load_inputs(str(environment.path), None, None, "on-demand")
    current = {p.role: ((p.current.group if p.current else None),
                        (p.current.version if p.current else None)) for p in plans}  # fmt: skip
    before_env, after_env = before_and_after(inputs.env, current)
    lines, data = delta_report(inputs, before_env, after_env)
    data["prices"] = prices.freshness(inputs.prices, dt.date.today())
    return lines, data
