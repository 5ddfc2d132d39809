"""CloudWatch metric alarms evaluated from the metric data put into the emulator.

moto stores PutMetricData and PutMetricAlarm but never evaluates an alarm: its state
changes only through SetAlarmState. This module evaluates metric alarms the way the
CloudWatch User Guide describes ("Using Amazon CloudWatch alarms", "Evaluating an alarm",
"Configuring how CloudWatch alarms treat missing data",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html):

- the alarm looks at the most recent EvaluationPeriods periods of Period seconds; each
  period's datapoint is the alarm's Statistic (SampleCount, Average, Sum, Minimum,
  Maximum) of the values put with the alarm's namespace, metric name and exactly its
  dimensions;
- a datapoint breaches when it compares to Threshold by ComparisonOperator;
- "M out of N": ALARM when at least DatapointsToAlarm (default EvaluationPeriods) of the
  N periods breach; OK when too few breach;
- missing periods follow TreatMissingData: ``missing`` (default; if every period is
  missing the state is INSUFFICIENT_DATA, otherwise only the present periods count),
  ``notBreaching``, ``breaching``, ``ignore`` (the state stays as it is).

Not modelled: metric math alarms (Metrics), percentile statistics (ExtendedStatistic),
anomaly detection, composite alarms, alarm actions, and CloudWatch's evaluation schedule
(AWS evaluates once a period; here every call to :func:`evaluate_all`, over the periods
that end now). Periods are multiplied by the emulator's time_scale when it is above 0,
so a rehearsal running real time scaled down sees its alarms on the same scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone

from moto.cloudwatch.models import MetricDatum, cloudwatch_backends

from autoscaling.emulator import config

_COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def statistic(values: Sequence[float], name: str) -> float | None:
    """One period's datapoint: None when the period holds no values."""
    if not values:
        return None
    if name == "SampleCount":
        return float(len(values))
    if name == "Sum":
        return float(sum(values))
    if name == "Average":
        return float(sum(values)) / len(values)
    if name == "Minimum":
        return float(min(values))
    if name == "Maximum":
        return float(max(values))
    raise ValueError(f"unsupported statistic {name!r}")


def decide(
    datapoints: Sequence[float | None],
    *,
    threshold: float,
    operator: str,
    datapoints_to_alarm: int | None,
    treat_missing: str | None,
    current: str,
) -> str:
    """The alarm state for the N most recent datapoints (None = missing period)."""
    compare = _COMPARE.get(operator)
    if compare is None:
        raise ValueError(f"unsupported ComparisonOperator {operator!r}")
    n = len(datapoints)
    m = datapoints_to_alarm or n
    treat = treat_missing or "missing"
    present = [d for d in datapoints if d is not None]
    if not present:
        if treat == "breaching":
            return "ALARM" if n >= m else "OK"
        if treat == "notBreaching":
            return "OK"
        if treat == "ignore":
            return current
        return "INSUFFICIENT_DATA"
    breaching = sum(1 for d in present if compare(d, threshold))
    missing = n - len(present)
    if treat == "breaching":
        breaching += missing
    return "ALARM" if breaching >= min(m, n) else "OK"


def period_values(
    samples: Iterable[tuple[datetime, float]], now: datetime, period: float, periods: int
) -> list[list[float]]:
    """Values of each of the ``periods`` windows of ``period`` seconds ending at ``now``,
    oldest first."""
    buckets: list[list[float]] = [[] for _ in range(periods)]
    start = now - timedelta(seconds=period * periods)
    for when, value in samples:
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        if start <= when < now:
            index = int((when - start).total_seconds() // period)
            buckets[min(index, periods - 1)].append(value)
    return buckets


def _samples(backend, alarm) -> list[tuple[datetime, float]]:
    wanted = {(d.name, d.value) for d in alarm.dimensions}
    out = []
    for datum in backend.metric_data:
        if not isinstance(datum, MetricDatum):
            continue
        if datum.namespace != alarm.namespace or datum.name != alarm.metric_name:
            continue
        if {(d.name, d.value) for d in datum.dimensions} != wanted:
            continue
        out.append((datum.timestamp, float(datum.value)))
    return out


def evaluate(backend, alarm, now: datetime) -> str | None:
    """Evaluate one moto Alarm against the backend's data; the new state, or None when
    the alarm is of a kind this model does not evaluate."""
    if alarm.metric_data_queries or not alarm.metric_name or not alarm.statistic:
        return None
    scale = config.get("time_scale")
    period = float(alarm.period) * (scale if scale > 0 else 1.0)
    periods = int(alarm.evaluation_periods or 1)
    buckets = period_values(_samples(backend, alarm), now, max(period, 0.001), periods)
    datapoints = [statistic(values, alarm.statistic) for values in buckets]
    return decide(
        datapoints,
        threshold=float(alarm.threshold),
        operator=alarm.comparison_operator,
        datapoints_to_alarm=alarm.datapoints_to_alarm,
        treat_missing=alarm.treat_missing_data,
        current=alarm.state_value,
    )


def evaluate_all(now: datetime | None = None) -> list[tuple[str, str]]:
    """Evaluate every metric alarm of every account and region; returns the (name, new
    state) of those whose state changed."""
    now = now or datetime.now(timezone.utc)
    changed = []
    # dict.values: only the backends that exist (indexing would create one per region).
    for per_account in list(cloudwatch_backends.values()):
        for backend in list(dict.values(per_account)):
            for alarm in list(backend.alarms.values()):
                state = evaluate(backend, alarm, now)
                if state is not None and state != alarm.state_value:
                    alarm.update_state(
                        f"Threshold Crossed: evaluated by the golden emulator ({state})",
                        "{}",
                        state,
                    )
                    changed.append((alarm.name, state))
    return changed
