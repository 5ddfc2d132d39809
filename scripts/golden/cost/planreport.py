"""The monthly cost delta under `golden env plan` (and `apply`) and under `golden infra
plan` (and `apply`), with the budget warning.

`golden env plan` reads what AWS has for each role (group capacity, the launch-template
version the group runs) and what the settings want. The environment is priced twice
with everything else equal (foundation, usage, prices, agent config): once with the roles
as AWS has them, once as they will be after `golden env apply`, which sets min and max
and only clamps the desired capacity into them (the scaling policy owns it). A role with
no group yet costs nothing before.

`golden infra plan` changes the foundation stack instead: the environment is priced with
the stack's parameters now and with those the change set deploys, the roles as the
settings say on both sides."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from golden.cost import estimate, foundation, prices, run
from golden.cost.foundation import Foundation
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


def _delta(name: str, budget: float | None, now: float | None,
           then: float) -> tuple[list[str], dict]:  # fmt: skip
    """The report's lines and data for a month of NOW USD (None: nothing deployed yet)
    becoming THEN USD, against BUDGET (USD a month, the settings' budget_usd)."""
    tail = f"{estimate.budget_text(then, budget)} (golden cost {name} for the lines)"
    if now is None:
        lines = [f"cost: {name}: a new stack: {money(then)} a month with it; {tail}"]
        warning = estimate.crossing(0.0, then, budget)
    else:
        change = then - now
        lines = [f"cost: {name}: {money(now)} a month now -> {money(then)} after this plan "
                 f"({'+' if change >= 0 else '-'}{money(abs(change))}); {tail}"]  # fmt: skip
        warning = estimate.crossing(now, then, budget)
    if warning:
        lines.append(f"warning: {warning}")
    data = {"before_usd": None if now is None else round(now, 2), "after_usd": round(then, 2),
            "delta_usd": None if now is None else round(then - now, 2),
            "budget": estimate.budget_status(then, budget), "warning": warning}  # fmt: skip
    return lines, data


def delta_report(inputs: estimate.Inputs, before_env: EnvironmentSpec,
                 after_env: EnvironmentSpec) -> tuple[list[str], dict]:  # fmt: skip
    """Lines for the plan's output and the JSON data: the month now, after, the delta (USD
    a month, priced by golden.cost.estimate) and the budget warning."""
    now = estimate.estimate(replace(inputs, env=before_env)).total
    then = estimate.estimate(replace(inputs, env=after_env)).total
    return _delta(inputs.env.name, inputs.env.budget_usd, now, then)


def stack_delta_report(inputs: estimate.Inputs,
                       before: Foundation | None) -> tuple[list[str], dict]:  # fmt: skip
    """The same for a foundation stack change: INPUTS priced with the foundation BEFORE the
    change (None: no stack yet) and with INPUTS' own (after it), everything else equal."""
    then = estimate.estimate(inputs).total
    now = None if before is None else estimate.estimate(replace(inputs, foundation=before)).total
    return _delta(inputs.env.name, inputs.env.budget_usd, now, then)


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


def stack_plan_report(environment, current: dict | None,
                      planned: dict) -> tuple[list[str], dict]:  # fmt: skip
    """The report `golden infra plan` (and `apply`) prints under the change set (registered
    with the release engine's STACK_PLAN_REPORTS by golden.cost.commands): ENVIRONMENT's
    month with the stack's parameters now (CURRENT, {key: text}; None for a new stack)
    and with those the change set deploys (PLANNED). The roles are priced as the settings
    say on both sides, so the delta is the stack's alone."""
    after, _ = foundation.from_parameters(planned, "the change set's parameters")
    before = None if current is None else foundation.from_parameters(
        current, "the stack's parameters")[0]  # fmt: skip
    inputs = run.inputs_with(str(environment.path), after)
    lines, data = stack_delta_report(inputs, before)
    data["prices"] = prices.freshness(inputs.prices, dt.date.today())
    return lines, data
