"""The emulator's evaluation of metric alarms, against the cases of the CloudWatch User
Guide ("Evaluating an alarm" and "Configuring how CloudWatch alarms treat missing data",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from autoscaling.emulator.alarms import decide, period_values, statistic

GT = "GreaterThanThreshold"


def _decide(points, *, m=None, treat=None, current="OK", threshold=10.0, op=GT):
    return decide(points, threshold=threshold, operator=op, datapoints_to_alarm=m,
                  treat_missing=treat, current=current)  # fmt: skip


def test_one_breaching_period_of_one_alarms():
    assert _decide([11.0]) == "ALARM"
    assert _decide([10.0]) == "OK"  # GreaterThan, not equal


def test_m_out_of_n():
    """Guide: "Datapoints to Alarm ... 3 out of 5": ALARM when at least M of the N most
    recent periods breach."""
    assert _decide([11, 0, 11, 0, 11], m=3) == "ALARM"
    assert _decide([11, 0, 11, 0, 0], m=3) == "OK"


@pytest.mark.parametrize(
    ("treat", "expected"),
    [("missing", "INSUFFICIENT_DATA"), (None, "INSUFFICIENT_DATA"),
     ("notBreaching", "OK"), ("breaching", "ALARM"), ("ignore", "ALARM")],
)  # fmt: skip
def test_all_periods_missing_follow_treat_missing_data(treat, expected):
    """Guide: missing -> INSUFFICIENT_DATA when every period lacks data; notBreaching ->
    treated as good; breaching -> as breaching; ignore -> the state is kept."""
    assert _decide([None, None], treat=treat, current="ALARM") == expected


def test_missing_periods_are_left_out_by_default_and_bad_when_breaching():
    # missing: only the present datapoint counts (1 breaching of M=2 needed -> min(M, N)).
    assert _decide([None, 11.0], m=2) == "OK"
    assert _decide([None, 11.0], m=2, treat="breaching") == "ALARM"


def test_statistics():
    values = [1.0, 2.0, 6.0]
    assert [statistic(values, s) for s in ("SampleCount", "Sum", "Average", "Minimum",
                                           "Maximum")] == [3.0, 9.0, 3.0, 1.0, 6.0]  # fmt: skip
    assert statistic([], "Sum") is None
    with pytest.raises(ValueError):
        statistic(values, "p99")


def test_values_fall_into_the_periods_ending_now():
    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)
    samples = [(now - timedelta(seconds=s), v) for s, v in ((5, 1.0), (25, 2.0), (65, 9.0))]
    # Two 20 s periods: [now-40, now-20) and [now-20, now); 65 s ago is outside both.
    assert period_values(samples, now, 20, 2) == [[2.0], [1.0]]
